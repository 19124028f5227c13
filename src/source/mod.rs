//! Where numbers come from. [`prometheus`] answers PromQL instant queries
//! (`prometheus_answer` reads Prometheus's JSON), [`heartbeat`] conditions
//! and `sql:` over the heartbeat checks; every source hands back [`Sample`]s: a label set and a value. Recording rules'
//! results go back to Prometheus through [`remote_write`] ([`prompb`]
//! encodes them).

pub mod heartbeat;
pub mod prometheus;
mod prometheus_answer;
pub mod prompb;
pub mod remote_write;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// The datasource could not be reached or failed (counts toward
    /// `DatasourceUnavailable`).
    #[error("datasource unavailable: {0}")]
    Unavailable(String),
    /// The datasource answered, but refused this query (bad PromQL, ...).
    #[error("query rejected: {0}")]
    Rejected(String),
}

impl SourceError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SourceError::Unavailable(_))
    }
}
