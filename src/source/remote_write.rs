//! Prometheus remote write 1.0: one HTTP POST per batch of series, body the
//! snappy-compressed protobuf `WriteRequest` ([`super::prompb`]). Sent with
//! `prometheus.headers` and the URL's user info (basic auth), like queries.
//! What to retry follows the spec: 5xx and 429 (and transport failures) are
//! retried, any other 4xx is permanent.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use super::SourceError;
use super::prompb::{self, TimeSeries};
use crate::config::PrometheusConfig;

/// The longest part of a server's error message kept (it goes into logs and the API).
const REASON_MAX: usize = 512;

#[derive(Clone)]
pub struct RemoteWriter {
    client: reqwest::Client,
    url: reqwest::Url,
    /// Printable address (no credentials), for messages.
    display_url: String,
    timeout: Duration,
}

impl std::fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriter")
            .field("url", &self.display_url)
            .finish()
    }
}

/// Why a write failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// No answer: connection refused or reset, timeout, TLS.
    #[error("remote write to {url} failed: {detail}")]
    Transport { url: String, detail: String },
    /// 5xx: the receiver failed; retried.
    #[error("remote write to {url} got HTTP {status}: {reason}")]
    Server {
        url: String,
        status: u16,
        reason: String,
    },
    /// 429: the receiver asks to slow down; retried (after `Retry-After` if given).
    #[error("remote write to {url} was throttled (HTTP 429): {reason}")]
    Throttled {
        url: String,
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Any other status (4xx): the receiver refuses these samples; never retried.
    #[error("remote write to {url} was rejected with HTTP {status}: {reason}")]
    Rejected {
        url: String,
        status: u16,
        reason: String,
    },
    /// The request could not be built (never retried).
    #[error("cannot encode the remote-write request: {0}")]
    Encode(String),
}

impl WriteError {
    /// Whether sending the same samples again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            WriteError::Transport { .. } | WriteError::Server { .. } | WriteError::Throttled { .. }
        )
    }

    /// The `reason` label of `tocsin_remote_write_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            WriteError::Transport { .. } => "connection",
            WriteError::Server { .. } => "server_error",
            WriteError::Throttled { .. } => "throttled",
            WriteError::Rejected { .. } | WriteError::Encode(_) => "rejected",
        }
    }

    /// How long the receiver asked us to wait (429 with `Retry-After: seconds`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            WriteError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl RemoteWriter {
    /// The writer of `prometheus.remote_write_url`; `None` without one.
    pub fn new(cfg: &PrometheusConfig) -> Result<Option<RemoteWriter>, SourceError> {
        let Some(url) = &cfg.remote_write_url else {
            return Ok(None);
        };
        let parsed = reqwest::Url::parse(&url.value)
            .map_err(|e| SourceError::Rejected(format!("invalid remote-write URL: {e}")))?;
        let timeout = cfg.remote_write_timeout.value.0;
        let client = crate::http_client::builder(timeout)
            .default_headers(super::prometheus::headers(cfg)?)
            .build()
            .map_err(|e| SourceError::Unavailable(crate::http_client::describe_error(&e)))?;
        Ok(Some(RemoteWriter {
            client,
            display_url: super::prometheus::display_url(&url.value),
            url: parsed,
            timeout,
        }))
    }

    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `series` in one request.
    pub async fn send(&self, series: &[TimeSeries]) -> Result<(), WriteError> {
        let body = prompb::compress(&prompb::write_request(series))
            .map_err(|e| WriteError::Encode(e.to_string()))?;
        let url = || self.display_url.clone();
        let request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_ENCODING, "snappy")
            .header(CONTENT_TYPE, "application/x-protobuf")
            .header(
                "X-Prometheus-Remote-Write-Version",
                HeaderValue::from_static("0.1.0"),
            )
            .body(body);
        // The client has the same timeout; this also bounds reading the answer.
        let bounded = self.timeout + Duration::from_millis(500);
        let response = tokio::time::timeout(bounded, request.send())
            .await
            .map_err(|_| WriteError::Transport {
                url: url(),
                detail: format!("no answer within {:?}", self.timeout),
            })?
            .map_err(|e| WriteError::Transport {
                url: url(),
                detail: crate::http_client::describe_error(&e),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let reason = match tokio::time::timeout(bounded, response.bytes()).await {
            Ok(Ok(bytes)) => reason_of(&bytes),
            _ => String::new(),
        };
        let reason = if reason.is_empty() {
            status.canonical_reason().unwrap_or("").to_string()
        } else {
            reason
        };
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => WriteError::Throttled {
                url: url(),
                reason,
                retry_after,
            },
            s if s.is_server_error() => WriteError::Server {
                url: url(),
                status: s.as_u16(),
                reason,
            },
            s => WriteError::Rejected {
                url: url(),
                status: s.as_u16(),
                reason,
            },
        })
    }
}

/// The server's message: one line, at most [`REASON_MAX`] bytes (cut on a
/// character boundary).
fn reason_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() <= REASON_MAX {
        return line;
    }
    let mut end = REASON_MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_short_line() {
        assert_eq!(reason_of(b"out of bounds\n"), "out of bounds");
        let long = "é".repeat(600);
        let r = reason_of(long.as_bytes());
        assert!(r.len() <= REASON_MAX + '…'.len_utf8());
        assert!(r.ends_with('…'));
    }

    #[test]
    fn what_is_retried() {
        let url = "http://x".to_string();
        let transport = WriteError::Transport {
            url: url.clone(),
            detail: "connection refused".into(),
        };
        let server = WriteError::Server {
            url: url.clone(),
            status: 503,
            reason: String::new(),
        };
        let throttled = WriteError::Throttled {
            url: url.clone(),
            reason: String::new(),
            retry_after: Some(Duration::from_secs(3)),
        };
        let rejected = WriteError::Rejected {
            url,
            status: 400,
            reason: "out of bounds".into(),
        };
        assert!(transport.is_retryable() && server.is_retryable() && throttled.is_retryable());
        assert!(!rejected.is_retryable());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(rejected.reason(), "rejected");
        assert_eq!(transport.reason(), "connection");
    }
}
