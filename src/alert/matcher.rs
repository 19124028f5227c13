//! Label matchers as Alertmanager writes them: `name=value`, `name!=value`,
//! `name=~regex`, `name!~regex` (regexes anchored at both ends, like
//! Prometheus). A missing label has the value "". Silences use them, and
//! inhibition rules.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::alert::Labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "=~")]
    Re,
    #[serde(rename = "!~")]
    NotRe,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        }
    }
}

/// One checked matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: Op,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Matcher) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl Matcher {
    pub fn new(name: &str, op: Op, value: &str) -> Result<Matcher, String> {
        let valid_name = {
            let mut c = name.chars();
            c.next()
                .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        };
        if !valid_name {
            return Err(format!(
                "label name {name:?} is not valid (expected [a-zA-Z_][a-zA-Z0-9_]*)"
            ));
        }
        let regex = match op {
            Op::Re | Op::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("{name}{}{value:?}: not a regex ({e})", op.as_str()))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Matchers written `{a="b", c=~"d"}`, `a=b, c!=d`, or one per line;
    /// commas inside quotes belong to the value.
    pub fn parse_list(text: &str) -> Result<Vec<Matcher>, String> {
        let text = text.trim();
        let text = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        let mut parts = Vec::new();
        let (mut current, mut quoted, mut escaped) = (String::new(), false, false);
        for c in text.chars() {
            match c {
                _ if escaped => {
                    current.push(c);
                    escaped = false;
                }
                '\\' if quoted => {
                    current.push(c);
                    escaped = true;
                }
                '"' => {
                    quoted = !quoted;
                    current.push(c);
                }
                ',' | '\n' if !quoted => parts.push(std::mem::take(&mut current)),
                _ => current.push(c),
            }
        }
        if quoted {
            return Err("a quote is not closed".into());
        }
        parts.push(current);
        parts
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(Matcher::parse)
            .collect()
    }

    /// `name=value`, `name!=value`, `name=~re`, `name!~re`; the value may be quoted.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let text = text.trim();
        let at = text.find(['=', '!']).ok_or_else(|| {
            format!("{text:?} is not a matcher (expected name=value, name!=value, name=~regex or name!~regex)")
        })?;
        let (name, rest) = text.split_at(at);
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (Op::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (Op::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (Op::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (Op::Eq, v)
        } else {
            return Err(format!(
                "{text:?} is not a matcher (expected name=value, name!=value, name=~regex or name!~regex)"
            ));
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Matcher::new(name.trim(), op, value)
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Whether a label set whose value of this matcher's name is `v` (empty
    /// when absent) matches.
    pub fn matches_value(&self, v: &str) -> bool {
        match (self.op, &self.regex) {
            (Op::Eq, _) => v == self.value,
            (Op::Ne, _) => v != self.value,
            (Op::Re, Some(r)) => r.is_match(v),
            (Op::NotRe, Some(r)) => !r.is_match(v),
            _ => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// The JSON form: `{name, value, isRegex, isEqual}` (Alertmanager's API).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatcherJson {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex", default)]
    pub is_regex: bool,
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl From<&Matcher> for MatcherJson {
    fn from(m: &Matcher) -> MatcherJson {
        MatcherJson {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: matches!(m.op, Op::Re | Op::NotRe),
            is_equal: matches!(m.op, Op::Eq | Op::Re),
        }
    }
}

impl TryFrom<&MatcherJson> for Matcher {
    type Error = String;
    fn try_from(j: &MatcherJson) -> Result<Matcher, String> {
        let op = match (j.is_regex, j.is_equal) {
            (false, true) => Op::Eq,
            (false, false) => Op::Ne,
            (true, true) => Op::Re,
            (true, false) => Op::NotRe,
        };
        Matcher::new(&j.name, op, &j.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_in_the_forms_people_write() {
        let m = Matcher::parse_list(r#"{severity="error", vault=~"v-.*"}"#).unwrap();
        assert_eq!(m.len(), 2);
        let m = Matcher::parse_list("team=db\nenv!=dev").unwrap();
        assert_eq!(m.len(), 2);
        let m = Matcher::parse_list(r#"msg="a, b""#).unwrap();
        assert_eq!(m.len(), 1, "a comma inside quotes is the value's");
        assert!(Matcher::parse_list("").unwrap().is_empty());
        assert!(Matcher::parse_list("nonsense").is_err());
        assert!(Matcher::parse_list(r#"a="open"#).is_err());
    }

    use crate::alert::labels::from_pairs as labels;

    #[test]
    fn parses_and_matches_each_operator() {
        let l = labels(&[("alertname", "BackupFailed"), ("vault", "v-prod")]);
        let cases = [
            ("vault=v-prod", true),
            ("vault=\"v-prod\"", true),
            ("vault!=v-prod", false),
            ("vault=~v-.*", true),
            ("vault=~v", false), // anchored
            ("vault!~v-test|v-dev", true),
            ("client=", true), // missing label is ""
            ("client!=", false),
        ];
        for (text, want) in cases {
            let m = Matcher::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(m.matches(&l), want, "{text}");
        }
    }

    #[test]
    fn bad_matchers_say_why() {
        for (text, want) in [
            ("vault", "\"vault\" is not a matcher"),
            ("1x=a", "label name \"1x\" is not valid"),
            ("vault=~(", "vault=~\"(\": not a regex"),
        ] {
            let got = Matcher::parse(text).err().unwrap_or_default();
            assert!(got.starts_with(want), "{text}: {got}");
        }
    }

    #[test]
    fn json_round_trip() {
        for text in ["a=b", "a!=b", "a=~b.*", "a!~b"] {
            let m = Matcher::parse(text).unwrap();
            let back = Matcher::try_from(&MatcherJson::from(&m)).unwrap();
            assert_eq!(back, m);
        }
    }
}
