//! Matching check names: `checks:` globs of heartbeat rules (`backup-*`), the
//! name templates of auto-created checks (`backup-{vault}-{client}`), and the
//! syntax of keys in ping URLs (slugs, ping keys, run ids).

use crate::alert::Labels;

/// `*` matches any run of characters (also none), `?` exactly one.
/// Evaluated over every check at every evaluation of a heartbeat rule: the
/// common patterns (`*`, a plain name, ASCII) allocate nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if !pattern.contains(['*', '?']) {
        return pattern == name;
    }
    if pattern.is_ascii() && name.is_ascii() {
        return glob(pattern.as_bytes(), name.as_bytes(), b'*', b'?');
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob(&p, &n, '*', '?')
}

/// Iterative matcher with one backtrack point (the last `*`).
fn glob<T: PartialEq + Copy>(p: &[T], n: &[T], any: T, one: T) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == one || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == any {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == any)
}

/// A check name with `{label}` placeholders: it describes the checks created
/// on their first ping (`/ping/{ping_key}/{slug}?create=1`) and gives them
/// labels from their names. A placeholder takes one or more characters up to
/// the next literal text of the pattern; the last one takes the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Label(String),
}

impl NamePattern {
    /// Parses `backup-{vault}-{client}`. `Ok(None)`: no placeholder (a plain name).
    pub fn parse(source: &str) -> Result<Option<NamePattern>, String> {
        if !source.contains(['{', '}']) {
            return Ok(None);
        }
        let mut parts = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("expected `}}` to close a placeholder in {source:?}"))?;
                let label = &after[..end];
                if !crate::alert::valid_label_name(label) {
                    return Err(format!(
                        "expected a label name in {{...}} (like {{client}}), got {{{label}}} in {source:?}"
                    ));
                }
                if matches!(parts.last(), Some(Part::Label(_))) {
                    return Err(format!(
                        "two placeholders must be separated by text (like {{vault}}-{{client}}) in {source:?}"
                    ));
                }
                parts.push(Part::Label(label.to_string()));
                rest = &after[end + 1..];
            } else {
                let end = rest.find(['{', '}']).unwrap_or(rest.len());
                if rest[end..].starts_with('}') {
                    return Err(format!("unexpected `}}` in {source:?}"));
                }
                parts.push(Part::Literal(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        Ok(Some(NamePattern {
            source: source.to_string(),
            parts,
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Characters of literal text: more is more specific.
    pub fn specificity(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(l) => l.chars().count(),
                Part::Label(_) => 0,
            })
            .sum()
    }

    /// The labels `name` gives the placeholders, if it matches.
    pub fn captures(&self, name: &str) -> Option<Labels> {
        let mut labels = Labels::new();
        let mut rest = name;
        let mut parts = self.parts.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Label(label) => {
                    let value = match parts.peek() {
                        None => rest,
                        // the next part is a literal (two labels never touch)
                        Some(Part::Literal(next)) => {
                            // at least one character, then up to the next literal
                            let first = rest.chars().next()?.len_utf8();
                            let at = rest[first..].find(next.as_str())? + first;
                            &rest[..at]
                        }
                        Some(Part::Label(_)) => return None,
                    };
                    if value.is_empty() {
                        return None;
                    }
                    labels.insert(label.clone(), value.to_string());
                    rest = &rest[value.len()..];
                }
            }
        }
        rest.is_empty().then_some(labels)
    }
}

/// Healthchecks' slug syntax: `a-z`, `0-9`, `-` and `_`.
pub fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A UUID written the canonical way (`8-4-4-4-12` hex digits), as check keys
/// and `rid`s are. Other spellings `Uuid::parse_str` accepts are refused.
pub fn parse_canonical_uuid(s: &str) -> Option<uuid::Uuid> {
    let canonical = s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if canonical {
        uuid::Uuid::parse_str(s).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::labels::from_pairs as labels;

    #[test]
    fn globs() {
        assert!(glob_match("backup-*", "backup-c7"));
        assert!(glob_match("backup-*", "backup-"));
        assert!(!glob_match("backup-*", "backups"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("b?ckup-*-prod", "backup-x-y-prod"));
        assert!(!glob_match("b?ckup", "bckup"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        // non-ASCII: `?` is one character, not one byte
        assert!(glob_match("备份-?", "备份-甲"));
        assert!(glob_match("backup-?", "backup-甲"));
        assert!(!glob_match("backup-??", "backup-甲"));
    }

    #[test]
    fn name_patterns_capture_labels() {
        let p = NamePattern::parse("backup-{vault}-{client}")
            .unwrap()
            .unwrap();
        assert_eq!(
            p.captures("backup-prod-web-01"),
            Some(labels(&[("vault", "prod"), ("client", "web-01")]))
        );
        assert_eq!(p.captures("backup-prod-"), None);
        assert_eq!(p.captures("backup-prod"), None);
        assert_eq!(p.captures("restore-prod-x"), None);
        assert_eq!(p.specificity(), "backup--".len());

        let p = NamePattern::parse("{client}.nightly").unwrap().unwrap();
        assert_eq!(
            p.captures("db1.nightly"),
            Some(labels(&[("client", "db1")]))
        );
        assert_eq!(p.captures(".nightly"), None);
        assert_eq!(p.captures("db1.nightly.x"), None);

        assert_eq!(NamePattern::parse("plain-name").unwrap(), None);
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(
            NamePattern::parse("backup-{client")
                .unwrap_err()
                .contains("close")
        );
        assert!(
            NamePattern::parse("backup-{cli-ent}")
                .unwrap_err()
                .contains("label name")
        );
        assert!(
            NamePattern::parse("{a}{b}")
                .unwrap_err()
                .contains("separated")
        );
        assert!(
            NamePattern::parse("a}b")
                .unwrap_err()
                .contains("unexpected")
        );
    }

    #[test]
    fn keys() {
        assert!(valid_slug("backup-c7_x"));
        assert!(!valid_slug("Backup"));
        assert!(!valid_slug(""));
        assert!(!valid_slug("a b"));
        let u = uuid::Uuid::new_v4();
        assert_eq!(parse_canonical_uuid(&u.to_string()), Some(u));
        assert_eq!(parse_canonical_uuid(&u.simple().to_string()), None);
        assert_eq!(parse_canonical_uuid(&format!("{{{u}}}")), None);
        assert_eq!(parse_canonical_uuid("not-a-uuid"), None);
    }
}
