//! A standby answers every request it cannot answer itself by forwarding
//! it to the leader, at the address the leader wrote into the lease
//! (`advertise_url`): the API, pings, posted alerts and events, the
//! console. The leader does the work (a ping or a posted alert is in the
//! database before its answer), and the standby hands the answer back as
//! it came. A forwarded request carries the client's address, signed
//! (`http/forwarded.rs`); a request that already came from another replica
//! is not forwarded again (no loops when a load balancer sends it back to
//! a standby). With no leader to reach, a ping is queued in the database
//! (`inbox.rs`) and answered `OK`; anything else is answered 503 with
//! `Retry-After: 1`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::inbox::{self, Inbox};
use super::status::ReplicaStatus;
use crate::http::forwarded;
use crate::signing::SigningKey;

/// What the forwarding handler needs.
#[derive(Clone)]
pub(super) struct Forwarder {
    pub client: reqwest::Client,
    pub key: SigningKey,
    /// The largest body any endpoint takes: more is refused here.
    pub max_body: usize,
    pub status: &'static ReplicaStatus,
    /// Where pings go while no leader answers.
    pub inbox: Inbox,
}

impl Forwarder {
    pub fn new(
        key: SigningKey,
        max_body: usize,
        timeout: Duration,
        inbox: Inbox,
    ) -> Result<Forwarder, reqwest::Error> {
        // No redirects followed: the leader's (the console's) go back to
        // the client. The client's own User-Agent is kept.
        let client = crate::http_client::builder(timeout)
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Forwarder {
            client,
            key,
            max_body,
            status: inbox.status,
            inbox,
        })
    }
}

/// Headers that belong to one connection, not to the request.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !hop_by_hop(name) && name.as_str() != forwarded::HEADER {
            to.append(name.clone(), value.clone());
        }
    }
}

/// 503, who leads (as far as this replica knows) and why not forwarded.
pub(super) fn unavailable(status: &ReplicaStatus, why: &str) -> Response {
    let body = serde_json::json!({
        "status": "error",
        "errorType": "unavailable",
        "error": format!("{}: {why}; retry", status.describe()),
    });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        axum::Json(body),
    )
        .into_response()
}

pub(super) async fn forward(
    State(f): State<Forwarder>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    if req.headers().contains_key(forwarded::HEADER) {
        return unavailable(
            f.status,
            "this request was forwarded by another replica already",
        );
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, f.max_body).await {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "cannot read the request body (at most {} bytes): {e}\n",
                    f.max_body
                ),
            )
                .into_response();
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let Some(leader) = f.status.leader().filter(|l| !l.address.is_empty()) else {
        return no_leader(&f, &parts, path, remote, &body, "no leader to forward to").await;
    };
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    if let Ok(v) = forwarded::value(&f.key, &remote.ip().to_string()).parse() {
        headers.insert(forwarded::HEADER, v);
    }
    let sent = f
        .client
        .request(parts.method.clone(), format!("{}{path}", leader.address))
        .headers(headers)
        .body(body.clone())
        .send()
        .await;
    let answer = match sent {
        Ok(a) => a,
        // Refused: the request never reached a leader, so it is safe to
        // queue (a timeout may have reached it).
        Err(e) if e.is_connect() => {
            let why = format!(
                "the leader did not take the connection ({})",
                crate::http_client::describe_error(&e)
            );
            return no_leader(&f, &parts, path, remote, &body, &why).await;
        }
        Err(e) => {
            // Without the URL: a ping's path holds its check's key.
            let e = crate::http_client::describe_error(&e);
            tracing::debug!(leader = %leader.holder, error = %e, "cannot forward to the leader");
            return unavailable(f.status, &format!("the leader did not answer ({e})"));
        }
    };
    let status = answer.status();
    let mut out_headers = HeaderMap::new();
    copy_headers(answer.headers(), &mut out_headers);
    let bytes = match answer.bytes().await {
        Ok(b) => b,
        Err(e) => {
            let e = crate::http_client::describe_error(&e);
            return unavailable(f.status, &format!("the leader's answer broke off ({e})"));
        }
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    response
}

/// No leader took the request: a ping is queued, anything else is 503.
async fn no_leader(
    f: &Forwarder,
    parts: &axum::http::request::Parts,
    path: String,
    remote: SocketAddr,
    body: &[u8],
    why: &str,
) -> Response {
    if !inbox::is_ping(&path) {
        return unavailable(f.status, why);
    }
    let user_agent = parts.headers.get(header::USER_AGENT);
    let queued = f
        .inbox
        .queue(
            &parts.method,
            path,
            remote.ip().to_string(),
            user_agent,
            body,
        )
        .await;
    match queued {
        Ok(answer) => {
            tracing::debug!(reason = why, "ping queued for the next leader");
            answer
        }
        Err(e) => unavailable(f.status, &format!("{why}; {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_headers_and_a_forwarded_mark_are_not_copied() {
        let mut from = HeaderMap::new();
        from.insert(header::CONNECTION, "keep-alive".parse().unwrap());
        from.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        from.insert(header::CONTENT_LENGTH, "3".parse().unwrap());
        from.insert(forwarded::HEADER, "1.2.3.4 sig".parse().unwrap());
        from.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        from.append(header::SET_COOKIE, "a=1".parse().unwrap());
        from.append(header::SET_COOKIE, "b=2".parse().unwrap());
        from.insert(header::HOST, "tocsin.example".parse().unwrap());
        let mut to = HeaderMap::new();
        copy_headers(&from, &mut to);
        let mut names: Vec<_> = to.keys().map(|k| k.as_str().to_string()).collect();
        names.sort();
        assert_eq!(names, ["authorization", "host", "set-cookie"]);
        assert_eq!(to.get_all(header::SET_COOKIE).iter().count(), 2);
    }
}
