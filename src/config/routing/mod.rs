//! `routing:` and `target_groups:` as written in `tocsin.yaml`: the default
//! route and the label-matched scopes, each with a `notify:` setting
//! ([`NotifySetting`]) and the timing keys of [`timing`] (which also checks
//! them). [`resolve`] checks the names a route uses and [`reach`] how it
//! reaches the contacts among them; together they build the
//! [`RouteTable`](crate::notify::route_table::RouteTable) of delivery
//! targets that the router looks alerts up in.

mod resolve;
#[cfg(test)]
pub(crate) mod test_fixture;
mod timing;

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::windows::RawWindow;
use crate::yaml::{self, HumanDuration, Spanned};
pub(super) use resolve::{RoutingContext, resolve_routing};
use timing::with_timing_keys;

/// The name that stands for the main account (`owner:` addresses).
pub const OWNER: &str = "owner";

with_timing_keys! {
    /// `routing:`: the default route, the scopes, and the timing every route
    /// takes unless its scope says otherwise.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    pub struct RoutingConfig {
        pub default: Spanned<NotifySetting>,
        /// Label-matched overrides; the most specific matching scope wins.
        pub scopes: Vec<ScopeConfig>,
    }
    default {
        default: yaml::unspanned(NotifySetting::default()),
        scopes: Vec::new(),
    }

    /// `{match: {label: value, ...}, notify: ...}` and the scope's own timing.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ScopeConfig {
        #[serde(rename = "match")]
        pub matchers: Spanned<BTreeMap<String, String>>,
        pub notify: Spanned<NotifySetting>,
    }
}

/// Who hears about an alert, as written in `notify:` and `routing.default`.
#[derive(Debug, Default)]
pub enum NotifySetting {
    /// Every enabled target (the default while no routing is configured).
    #[default]
    AllTargets,
    /// Nobody: alerts are recorded but not sent.
    Off,
    /// The main account: the `owner:` addresses, by email.
    Owner,
    /// What the next less specific matching scope (or the default) says.
    Inherit,
    /// These targets, target groups, contacts, contact groups (or `owner`).
    Targets(Vec<Spanned<String>>),
    /// A setting per severity; a missing severity inherits.
    PerSeverity {
        warning: Option<Box<Spanned<NotifySetting>>>,
        error: Option<Box<Spanned<NotifySetting>>>,
    },
}

const EXPECTED: &str = "off, owner, inherit, all, a list of names, or {warning: ..., error: ...}";

impl<'de> Deserialize<'de> for NotifySetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NotifySetting;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NotifySetting, E> {
                match v {
                    "off" => Ok(NotifySetting::Off),
                    "all" => Ok(NotifySetting::AllTargets),
                    "owner" => Ok(NotifySetting::Owner),
                    "inherit" => Ok(NotifySetting::Inherit),
                    other => Err(E::custom(format!("expected {EXPECTED}, got {other:?}"))),
                }
            }
            /// YAML 1.1 reads a bare `off` as `false`.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<NotifySetting, E> {
                if v {
                    Err(E::custom(format!("expected {EXPECTED}, got true")))
                } else {
                    Ok(NotifySetting::Off)
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NotifySetting, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<Spanned<String>>()? {
                    names.push(n);
                }
                Ok(NotifySetting::Targets(names))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NotifySetting, A::Error> {
                let (mut warning, mut error) = (None, None);
                while let Some(k) = map.next_key::<String>()? {
                    let v: Spanned<NotifySetting> = map.next_value()?;
                    match k.as_str() {
                        "warning" => warning = Some(Box::new(v)),
                        "error" => error = Some(Box::new(v)),
                        other => {
                            return Err(de::Error::custom(format!(
                                "expected the severity warning or error, got {other:?}"
                            )));
                        }
                    }
                }
                Ok(NotifySetting::PerSeverity { warning, error })
            }
        }
        d.deserialize_any(V)
    }
}

/// `{name, targets: [...], enabled}`: several targets under one name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    pub name: Spanned<String>,
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}
