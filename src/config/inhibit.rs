//! `inhibit:` as written: `source` and `target` as a map of label values
//! (`{severity: error}`) or a list of matchers (`["severity=~error|critical"]`),
//! and the `equal` labels. Invalid matchers are errors at their place.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::alert::matcher::{Matcher, Op};
use crate::notify::inhibit::InhibitRule;
use crate::yaml::{SourceError, Spanned};

/// One `inhibit:` rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInhibit {
    pub source: Spanned<MatcherSet>,
    pub target: Spanned<MatcherSet>,
    #[serde(default)]
    pub equal: Vec<String>,
}

/// `source` or `target`: label values, or matchers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MatcherSet {
    Map(BTreeMap<String, String>),
    List(Vec<String>),
}

fn matchers(
    file: &Path,
    what: &str,
    set: &Spanned<MatcherSet>,
    errors: &mut Vec<SourceError>,
) -> Vec<Matcher> {
    let parsed: Vec<Result<Matcher, String>> = match &set.value {
        MatcherSet::Map(m) => m.iter().map(|(k, v)| Matcher::new(k, Op::Eq, v)).collect(),
        MatcherSet::List(l) => l.iter().map(|t| Matcher::parse(t)).collect(),
    };
    let mut out = Vec::new();
    for p in parsed {
        match p {
            Ok(m) => out.push(m),
            Err(e) => errors.push(SourceError::at(file, set, format!("{what}: {e}"))),
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(SourceError::at(
            file,
            set,
            format!("{what}: expected at least one matcher"),
        ));
    }
    out
}

/// The checked rules; each bad matcher is an error at its place.
pub(super) fn resolve_inhibit(
    file: &Path,
    raw: &[RawInhibit],
    errors: &mut Vec<SourceError>,
) -> Vec<InhibitRule> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| InhibitRule {
            source: matchers(file, &format!("inhibit[{i}].source"), &r.source, errors),
            target: matchers(file, &format!("inhibit[{i}].target"), &r.target, errors),
            equal: r.equal.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn both_forms_load_and_bad_matchers_name_the_place() {
        let c = Config::from_text(
            Path::new("t.yaml"),
            "inhibit:\n  - {source: {severity: error}, target: [\"severity=~warning|info\"], equal: [deployment]}\n",
        )
        .unwrap();
        assert_eq!(c.inhibit.len(), 1);
        assert_eq!(
            c.inhibit[0].target[0].to_string(),
            "severity=~\"warning|info\""
        );
        let err = Config::from_text(
            Path::new("t.yaml"),
            "inhibit:\n  - source: {severity: error}\n    target: [\"severity=~(\"]\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.starts_with("t.yaml:3:13: inhibit[0].target: severity=~\"(\": not a regex"),
            "{err}"
        );
    }
}
