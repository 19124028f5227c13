//! `database:`: where the state lives. Absent, SQLite under `data_dir`;
//! `postgres://user@host:port/db` (or the URL in `database_file`), a
//! PostgreSQL database several replicas may share. The URL is a secret: it
//! may carry a password, written as `${ENV}`.

use std::path::{Path, PathBuf};

use super::Secret;
use super::people::secret_or_file;
use crate::store::PgTarget;
use crate::yaml::{SourceError, Spanned};

/// Checks `database` / `database_file`: one of them at most, and a URL
/// PostgreSQL's client accepts.
pub(super) fn resolve(
    file: &Path,
    inline: Option<&Spanned<Secret>>,
    path: Option<&Spanned<PathBuf>>,
    errors: &mut Vec<SourceError>,
) -> Option<PgTarget> {
    let url = secret_or_file(file, "database", inline, path, errors)?;
    let at = |message: String| match (inline, path) {
        (Some(s), _) => SourceError::at(file, s, message),
        (None, Some(p)) => SourceError::at(file, p, message),
        (None, None) => SourceError::at(file, &crate::yaml::unspanned(()), message),
    };
    let text = url.expose().trim();
    if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
        errors.push(at(
            "expected a database URL starting with postgres:// (leave `database` out for SQLite under data_dir)"
                .to_string(),
        ));
        return None;
    }
    match PgTarget::parse(text, None) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(at(format!("expected a PostgreSQL URL: {e}")));
            None
        }
    }
}
