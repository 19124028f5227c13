//! YAML parsing shared by rule files and the daemon config.
//!
//! Every error a user can cause points at the place in the file:
//! `file:line:col: what was expected`. Values that are checked while parsing
//! (durations, conditions, cron expressions) get their position from the parser;
//! checks made after parsing use [`Spanned`] fields and [`SourceError::at`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

pub use serde_saphyr::Spanned;

/// One problem in one file, with its position (1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl SourceError {
    /// An error at the position a [`Spanned`] value was read from.
    pub fn at<T>(file: &Path, span: &Spanned<T>, message: impl Into<String>) -> Self {
        SourceError {
            file: file.to_path_buf(),
            line: span.referenced.line() as u32,
            col: span.referenced.column() as u32,
            message: message.into(),
        }
    }

    /// An error about a whole file (cannot be read, ...).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        SourceError {
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            message: message.into(),
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )
        }
    }
}

impl std::error::Error for SourceError {}

/// All problems found in a set of files. `check` prints them all, `run` refuses to start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceErrors(pub Vec<SourceError>);

impl fmt::Display for SourceErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SourceErrors {}

/// Parses `text` (the contents of `file`) into `T`, rejecting unknown keys
/// (the types use `deny_unknown_fields`) and duplicate keys.
/// Reads a text file; a file that is not UTF-8 is an error at the line and
/// column (in bytes) of its first bad byte.
pub fn read_text(file: &Path, what: &str) -> Result<String, SourceError> {
    let bytes = std::fs::read(file)
        .map_err(|e| SourceError::file(file, format!("cannot read {what}: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let offset = e.utf8_error().valid_up_to();
        let (line, col) = line_col(bytes, offset);
        SourceError {
            file: file.to_path_buf(),
            line,
            col,
            message: format!(
                "{what} is not UTF-8: byte 0x{:02X} at byte offset {offset} (save the file as UTF-8)",
                bytes.get(offset).copied().unwrap_or(0)
            ),
        }
    })
}

/// 1-based line and byte column of `offset` in `bytes`.
pub fn line_col(bytes: &[u8], offset: usize) -> (u32, u32) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col = before.len()
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, SourceError> {
    serde_saphyr::from_str::<T>(text).map_err(|err| {
        let (line, col) = err
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((0, 0));
        SourceError {
            file: file.to_path_buf(),
            line,
            col,
            message: clean_message(&err.without_snippet().to_string()),
        }
    })
}

/// The parser's message carries its own position suffix and sometimes several
/// lines; we print the position ourselves, in front.
fn clean_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let first = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    first.trim_end_matches('.').to_string()
}

/// A value with no place in any file (built-in defaults).
pub fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(
        value,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

/// The longest duration any file accepts (times computed from it stay in range).
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 366 * 86_400);

/// For `Option<Spanned<Option<T>>>` fields: a key written with no value
/// keeps its position (plain `Option` would turn it into "absent").
pub fn spanned_nullable<'de, D, T>(d: D) -> Result<Option<Spanned<Option<T>>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Spanned::<Option<T>>::deserialize(d).map(Some)
}

/// For fields where `key:` with no value (null) means the default, as
/// Prometheus takes `rules:` with nothing under it.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A duration written as `30s`, `5m`, `1h30m`, `2d` (humantime, which also
/// accepts Prometheus's duration syntax) or `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t == "0" {
            return Ok(HumanDuration(Duration::ZERO));
        }
        let d = humantime::parse_duration(t)
            .map_err(|e| format!("expected a duration like 30s, 5m or 1h30m, got {t:?} ({e})"))?;
        if d > MAX_DURATION {
            return Err(format!(
                "expected a duration of at most 100 years, got {t:?}"
            ));
        }
        Ok(HumanDuration(d))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        HumanDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn byte_offsets_become_line_and_column() {
        assert_eq!(super::line_col(b"ab\ncd\xff", 5), (2, 3));
        assert_eq!(super::line_col(b"\xff", 0), (1, 1));
        assert_eq!(super::line_col(b"a\n", 99), (2, 1));
    }

    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        every: HumanDuration,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    }

    #[test]
    fn durations_in_both_syntaxes() {
        for (t, secs) in [
            ("30s", 30),
            ("5m", 300),
            ("1h30m", 5400),
            ("2d", 172800),
            ("0", 0),
        ] {
            assert_eq!(
                HumanDuration::parse(t).unwrap().0,
                Duration::from_secs(secs),
                "{t}"
            );
        }
        assert!(HumanDuration::parse("soon").is_err());
    }

    #[test]
    fn bad_duration_points_at_the_value() {
        let err = parse::<Doc>(Path::new("r.yaml"), "labels: {}\nevery: fortnight\n").unwrap_err();
        assert_eq!((err.line, err.col), (2, 8), "{err}");
        assert!(err.message.contains("expected a duration"), "{err}");
        assert!(err.to_string().starts_with("r.yaml:2:8: "), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error_with_position() {
        let err = parse::<Doc>(Path::new("r.yaml"), "every: 1m\nevrey: 2m\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains("evrey"), "{err}");
    }

    #[test]
    fn malformed_yaml_has_a_position() {
        let err = parse::<Doc>(Path::new("r.yaml"), "every: 1m\nlabels: {a: b\n").unwrap_err();
        assert!(err.line >= 2, "{err}");
    }
}
