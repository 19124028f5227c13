//! PromQL instant queries through prometheus-http-query.

use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_http_query::{Client, Error as PromError, response::Data};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::SourceError;
use crate::alert::{Labels, Sample};
use crate::config::PrometheusConfig;

/// Why a query that returned a range vector is refused.
pub const RANGE_VECTOR_ERROR: &str =
    "the query returned a range vector; alert queries must return an instant vector or scalar";

#[derive(Clone)]
pub struct PrometheusSource {
    client: Client,
    /// Printable address (no credentials), for messages.
    display_url: String,
    /// Base of links to the datasource's graph page (`external_url`, or the
    /// printable address), without a trailing slash.
    graph_url: String,
    timeout: Duration,
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
        let answer =
            tokio::time::timeout(self.timeout + Duration::from_millis(500), builder.post())
                .await
                .map_err(|_| {
                    SourceError::Unavailable(format!("no answer within {:?}", self.timeout))
                })?
                .map_err(classify)?;
        let (data, _) = answer.into_inner();
        match data {
            Data::Vector(v) => Ok(v
                .into_iter()
                .map(|iv| {
                    let (metric, sample) = iv.into_inner();
                    Sample {
                        labels: metric.into_iter().collect::<Labels>(),
                        value: sample.value(),
                    }
                })
                .collect()),
            Data::Scalar(s) => Ok(vec![Sample {
                labels: Labels::new(),
                value: s.value(),
            }]),
            Data::Matrix(_) => Err(SourceError::Rejected(RANGE_VECTOR_ERROR.into())),
        }
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
