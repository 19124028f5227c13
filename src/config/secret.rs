//! Secret strings: `${ENV}` references are expanded when the config loads, and
//! the value never shows in `Debug`, `Display`, logs, errors or the API.

use std::fmt;

use serde::{Deserialize, Deserializer};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The real value, for building requests. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        expand_env(&raw, |name| std::env::var(name).ok())
            .map(Secret)
            .map_err(serde::de::Error::custom)
    }
}

/// Replaces `${NAME}` with the variable's value; `$$` is a literal `$`.
/// An unset variable is an error naming the variable (never its value).
pub fn expand_env(raw: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| "expected `}` to close `${` in a variable reference".to_string())?;
            let name = &body[..end];
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "expected an environment variable name in ${{...}}, got {name:?}"
                ));
            }
            let value =
                lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn expands_and_escapes() {
        assert_eq!(expand_env("Bearer ${TOKEN}", env).unwrap(), "Bearer s3cr3t");
        assert_eq!(expand_env("a$$b $x", env).unwrap(), "a$b $x");
        assert_eq!(expand_env("plain", env).unwrap(), "plain");
    }

    #[test]
    fn unset_or_malformed_references_are_errors_without_values() {
        assert_eq!(
            expand_env("${NOPE}", env).unwrap_err(),
            "environment variable NOPE is not set"
        );
        assert!(expand_env("${TOKEN", env).is_err());
        assert!(expand_env("${A-B}", env).is_err());
    }

    #[test]
    fn never_printed() {
        let s = Secret::new("s3cr3t");
        assert_eq!(format!("{s} {s:?}"), "<secret> <secret>");
    }
}
