//! The `severity:` key of a rule, which is either one level or a threshold
//! per level.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::condition::Condition;
use crate::alert::Severity;

/// The `severity:` key as written.
#[derive(Debug, Clone, PartialEq)]
pub enum SeveritySpec {
    /// `severity: warning`
    Single(Severity),
    /// `severity: {warning: "> 8000", error: "> 9500"}`
    Levels {
        warning: Option<Condition>,
        error: Option<Condition>,
    },
}

impl<'de> Deserialize<'de> for SeveritySpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = SeveritySpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("warning, error, or a map {warning: \"> N\", error: \"> M\"}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SeveritySpec, E> {
                Severity::parse_native(v)
                    .map(SeveritySpec::Single)
                    .map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SeveritySpec, A::Error> {
                let (mut warning, mut error) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match Severity::parse_native(&key) {
                        Ok(Severity::Warning) => &mut warning,
                        Ok(Severity::Error) => &mut error,
                        Err(_) => {
                            return Err(de::Error::custom(format!(
                                "unknown severity level {key:?}, expected warning or error"
                            )));
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format!(
                            "severity level {key:?} given twice"
                        )));
                    }
                    *slot = Some(map.next_value::<Condition>()?);
                }
                if warning.is_none() && error.is_none() {
                    return Err(de::Error::custom(
                        "severity levels need at least one of warning or error",
                    ));
                }
                Ok(SeveritySpec::Levels { warning, error })
            }
        }
        d.deserialize_any(SpecVisitor)
    }
}
