//! What the HTTP channels share: the client of a target (its timeout and
//! proxy), sending a request and reading the answer whole (`execute`),
//! the usual classification of HTTP answers ([`classify_http`],
//! `Retry-After`), and the `errcode` JSON of the chat APIs
//! (`errcode_answer`).

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::{ChannelError, Delivery};
use crate::config::TargetConfig;
use crate::http_client;

/// An HTTP client for a target: its timeout, its proxy, fixed headers.
pub(crate) fn http_client(
    cfg: &TargetConfig,
    default_timeout: Duration,
    headers: HeaderMap,
) -> Result<reqwest::Client, ChannelError> {
    let err = |message: String| ChannelError {
        target: cfg.name().to_string(),
        message,
    };
    let mut b =
        http_client::builder(cfg.timeout.unwrap_or(default_timeout)).default_headers(headers);
    if let Some(p) = &cfg.proxy {
        // The proxy URL may carry credentials: never echo it.
        let proxy = reqwest::Proxy::all(p.expose()).map_err(|_| err("invalid proxy URL".into()))?;
        b = b.proxy(proxy);
    }
    b.build().map_err(|e| err(http_client::describe_error(&e)))
}

/// An HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: reqwest::StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
    }

    /// An answer with this status and body and no headers (unit tests of
    /// the channels' classification).
    #[cfg(test)]
    pub(crate) fn of(status: u16, body: &str) -> HttpAnswer {
        HttpAnswer {
            status: reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::OK),
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }
}

/// Sends a request; a transport failure (connect, timeout) is a retry whose
/// reason never contains the URL (it may carry a token).
pub(crate) async fn execute(req: reqwest::RequestBuilder) -> Result<HttpAnswer, Delivery> {
    match req.send().await {
        Err(e) => Err(Delivery::retry(
            http_client::describe_error(&e.without_url()),
            None,
        )),
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            match resp.text().await {
                Ok(body) => Ok(HttpAnswer {
                    status,
                    headers,
                    body,
                }),
                Err(e) => Err(Delivery::retry(
                    format!(
                        "HTTP {status}, then reading the answer failed: {}",
                        http_client::describe_error(&e.without_url())
                    ),
                    None,
                )),
            }
        }
    }
}

/// The usual HTTP answer classification: 2xx sent; 408, 425, 429 and 5xx
/// retried (honouring `Retry-After`); other statuses are permanent.
pub fn classify_http(
    status: reqwest::StatusCode,
    retry_after: Option<&str>,
    body: &str,
) -> Delivery {
    let excerpt = excerpt(body, 300);
    let reason = if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    };
    if status.is_success() {
        return Delivery::sent(reason);
    }
    let code = status.as_u16();
    if status.is_server_error() || matches!(code, 408 | 425 | 429) {
        Delivery::Retry {
            reason,
            after: retry_after.and_then(parse_retry_after),
        }
    } else {
        Delivery::Failed { reason }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for webhooks; ignored).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The first `max` characters of a response body, on one line.
pub fn excerpt(body: &str, max: usize) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// The answer of a robot that reports in `{errcode, errmsg}` (DingTalk,
/// WeCom), classified by the code only (the wording changes) but recording
/// the message: 0 is sent; `retry_after(code)` says whether a code is worth
/// another try, and after how long (`Some(None)`: the usual backoff).
pub(crate) fn classify_errcode(
    a: &HttpAnswer,
    vendor: &str,
    retry_after: impl Fn(i64) -> Option<Option<std::time::Duration>>,
) -> Delivery {
    let (code, msg) = match errcode_answer(a, "errcode", "errmsg") {
        Ok(x) => x,
        Err(d) => return d,
    };
    if code == 0 {
        return Delivery::sent(excerpt(&a.body, 300));
    }
    let reason = format!("{vendor} errcode {code}: {msg}");
    match retry_after(code) {
        Some(after) => Delivery::retry(reason, after),
        None => Delivery::failed(reason),
    }
}

/// Chat APIs answer HTTP 200 with `{"errcode": N, "errmsg": "..."}`. Returns
/// the code and the message, or the classification of an answer that is not
/// such JSON.
pub(crate) fn errcode_answer(
    a: &HttpAnswer,
    code_key: &str,
    msg_key: &str,
) -> Result<(i64, String), Delivery> {
    if !a.status.is_success() {
        return Err(classify_http(a.status, a.header("retry-after"), &a.body));
    }
    let v: serde_json::Value = serde_json::from_str(&a.body).map_err(|_| {
        Delivery::failed(format!(
            "HTTP {}: the answer is not the channel's JSON: {}",
            a.status,
            excerpt(&a.body, 200)
        ))
    })?;
    let code = v
        .get(code_key)
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| {
            Delivery::failed(format!(
                "HTTP {}: the answer has no `{code_key}`: {}",
                a.status,
                excerpt(&a.body, 200)
            ))
        })?;
    let msg = v
        .get(msg_key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((code, msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn http_answers_are_classified() {
        assert!(classify_http(StatusCode::OK, None, "").is_sent());
        assert!(matches!(
            classify_http(StatusCode::INTERNAL_SERVER_ERROR, None, "boom"),
            Delivery::Retry { .. }
        ));
        assert_eq!(
            classify_http(StatusCode::TOO_MANY_REQUESTS, Some("7"), ""),
            Delivery::Retry {
                reason: "HTTP 429 Too Many Requests".into(),
                after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            classify_http(StatusCode::BAD_REQUEST, None, "bad\n token"),
            Delivery::Failed {
                reason: "HTTP 400 Bad Request: bad token".into()
            }
        );
    }
}
