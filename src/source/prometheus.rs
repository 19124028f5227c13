//! PromQL instant queries through prometheus-http-query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus_http_query::{Client, Error as PromError};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::SourceError;
use super::prometheus_answer::SeriesMemo;
use crate::alert::Sample;
use crate::config::PrometheusConfig;

pub use super::prometheus_answer::RANGE_VECTOR_ERROR;

#[derive(Clone)]
pub struct PrometheusSource {
    client: Client,
    /// Printable address (no credentials), for messages.
    display_url: String,
    /// Base of links to the datasource's graph page (`external_url`, or the
    /// printable address), without a trailing slash.
    graph_url: String,
    timeout: Duration,
    /// Each query's last series, shared by the clones of this source.
    memos: Arc<Mutex<Memos>>,
}

/// [`SeriesMemo`]s by query. A query not run for [`MEMO_IDLE`] is forgotten.
#[derive(Default)]
struct Memos {
    by_query: HashMap<String, (SeriesMemo, Instant)>,
    last_sweep: Option<Instant>,
}

const MEMO_IDLE: Duration = Duration::from_secs(600);

impl Memos {
    fn take(&mut self, query: &str) -> SeriesMemo {
        self.by_query
            .remove(query)
            .map(|(memo, _)| memo)
            .unwrap_or_default()
    }

    fn put(&mut self, query: &str, memo: SeriesMemo) {
        let now = Instant::now();
        if self
            .last_sweep
            .is_none_or(|t| now.duration_since(t) > MEMO_IDLE / 10)
        {
            self.by_query
                .retain(|_, (_, used)| now.duration_since(*used) < MEMO_IDLE);
            self.last_sweep = Some(now);
        }
        self.by_query.insert(query.to_string(), (memo, now));
    }
}

impl std::fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusSource")
            .field("url", &self.display_url)
            .finish()
    }
}

impl PrometheusSource {
    pub fn new(cfg: &PrometheusConfig) -> Result<PrometheusSource, SourceError> {
        let timeout = cfg.timeout.0;
        let http = crate::http_client::builder(timeout)
            .default_headers(headers(cfg)?)
            .build()
            .map_err(|e| SourceError::Unavailable(crate::http_client::describe_error(&e)))?;
        let client = Client::from(http, &cfg.url.value)
            .map_err(|e| SourceError::Rejected(format!("invalid Prometheus URL: {e}")))?;
        let display_url = display_url(&cfg.url.value);
        let graph_url = match &cfg.external_url {
            Some(u) => u.value.trim_end_matches('/').to_string(),
            None => display_url.trim_end_matches('/').to_string(),
        };
        Ok(PrometheusSource {
            client,
            display_url,
            graph_url,
            timeout,
            memos: Arc::default(),
        })
    }

    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// How long one query may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The base Prometheus's `$externalURL` means: where its pages are.
    pub fn graph_url(&self) -> &str {
        &self.graph_url
    }

    /// The link Prometheus gives an alert as `generatorURL`: the expression
    /// in the table view of the graph page (`strutil.TableLinkForExpression`).
    pub fn generator_url(&self, expr: &str) -> String {
        format!(
            "{}/graph?g0.expr={}&g0.tab=1",
            self.graph_url,
            crate::template::go::query_escape(expr)
        )
    }

    /// Runs `query` at `at` (Prometheus's "now" when `None`).
    pub async fn query(
        &self,
        query: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Sample>, SourceError> {
        let mut builder = self
            .client
            .query(query)
            .timeout(self.timeout.as_millis() as i64);
        if let Some(at) = at {
            builder = builder.at(at.timestamp());
        }
        // The HTTP client has the same timeout; this also bounds body reading.
        let limit = self.timeout + Duration::from_millis(500);
        let body = tokio::time::timeout(limit, async {
            let response = builder.post_raw().await.map_err(classify)?;
            let status = response.status();
            let json = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if !json {
                // A proxy's page, or no Prometheus at this address.
                return Err(SourceError::Unavailable(format!(
                    "the answer is not Prometheus's JSON (HTTP {status})"
                )));
            }
            response
                .bytes()
                .await
                .map_err(|e| SourceError::Unavailable(crate::http_client::describe_error(&e)))
        })
        .await
        .map_err(|_| SourceError::Unavailable(format!("no answer within {:?}", self.timeout)))??;
        let mut memo = self.memos().take(query);
        let samples = super::prometheus_answer::parse_with(&body, &mut memo);
        self.memos().put(query, memo);
        samples
    }

    fn memos(&self) -> std::sync::MutexGuard<'_, Memos> {
        self.memos.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `prometheus.headers` as request headers, marked sensitive (never logged).
pub(crate) fn headers(cfg: &PrometheusConfig) -> Result<HeaderMap, SourceError> {
    let mut headers = HeaderMap::new();
    for (k, v) in &cfg.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| SourceError::Rejected(format!("invalid header name {k:?}")))?;
        let mut value = HeaderValue::from_str(v.expose())
            .map_err(|_| SourceError::Rejected(format!("invalid value for header {k:?}")))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

fn classify(e: PromError) -> SourceError {
    use prometheus_http_query::error::PrometheusErrorType as T;
    match e {
        PromError::Prometheus(pe) => match pe.error_type() {
            T::BadData | T::NotFound | T::Execution => SourceError::Rejected(pe.to_string()),
            _ => SourceError::Unavailable(pe.to_string()),
        },
        PromError::Client(ce) => {
            let detail = match std::error::Error::source(&ce)
                .and_then(|s| s.downcast_ref::<reqwest::Error>())
            {
                Some(re) => crate::http_client::describe_error(re),
                None => ce.to_string(),
            };
            SourceError::Unavailable(detail)
        }
        other => SourceError::Unavailable(other.to_string()),
    }
}

/// The URL without user info, for messages and the API.
pub(crate) fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "<invalid url>".to_string(),
    }
}
