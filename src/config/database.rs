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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn load(text: &str) -> Result<Config, crate::yaml::SourceErrors> {
        Config::from_text(Path::new("tocsin.yaml"), text)
    }

    #[test]
    fn database_is_a_postgres_url_whose_password_stays_hidden() {
        let c = load("database: postgres://tocsin:pw0rd@127.0.0.1:5433/alerts\n").unwrap();
        match c.database() {
            crate::store::Database::Postgres(t) => {
                assert_eq!(t.display(), "postgres://tocsin@127.0.0.1:5433/alerts");
                assert!(!format!("{c:?}").contains("pw0rd"));
            }
            other => panic!("{other:?}"),
        }
        let err = load("database: mysql://x\n").unwrap_err().to_string();
        assert!(
            err.starts_with("tocsin.yaml:1:11: expected a database URL starting with postgres://"),
            "{err}"
        );
        let err = load("database: postgres://a:pw0rd@h:notaport/x\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tocsin.yaml:1:11: expected a PostgreSQL URL") && !err.contains("pw0rd"),
            "{err}"
        );
        let err = load("database: postgres://a@h/x\ndatabase_file: url.txt\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not both"), "{err}");
        assert!(matches!(
            load("").unwrap().database(),
            crate::store::Database::Sqlite(_)
        ));
    }
}
