//! Requests a standby replica forwards to the leader carry the client's
//! address in [`HEADER`], signed with the daemon's key (which every replica
//! of one database shares), so the leader records the ping's real sender
//! and nobody else can make it record another.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

use crate::signing::SigningKey;

/// `<client address> <signature>`, set by a forwarding standby.
pub const HEADER: &str = "x-tocsin-forwarded-for";

/// The header's value for a request from `ip`.
pub fn value(key: &SigningKey, ip: &str) -> String {
    format!("{ip} {}", key.sign(&[b"forwarded-for", ip.as_bytes()]))
}

/// Who sent the request: the address in a validly signed [`HEADER`], else
/// the connection's peer.
pub fn client_ip(parts: &Parts, key: &SigningKey) -> Option<String> {
    let forwarded = parts
        .headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(ip, sig)| key.verify(&[b"forwarded-for", ip.as_bytes()], sig))
        .map(|(ip, _)| ip.to_string());
    forwarded.or_else(|| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(header: Option<&str>) -> Parts {
        let mut b = axum::http::Request::builder().uri("/ping/x");
        if let Some(h) = header {
            b = b.header(HEADER, h);
        }
        let (mut parts, ()) = b.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 9], 4000))));
        parts
    }

    #[test]
    fn a_signed_address_is_believed_and_a_forged_one_is_not() {
        let key = SigningKey::default();
        let signed = value(&key, "203.0.113.7");
        assert_eq!(
            client_ip(&parts(Some(&signed)), &key).as_deref(),
            Some("203.0.113.7")
        );
        let other = value(&SigningKey::default(), "203.0.113.7");
        assert_eq!(
            client_ip(&parts(Some(&other)), &key).as_deref(),
            Some("127.0.0.9")
        );
        let swapped = signed.replace("203.0.113.7", "198.51.100.1");
        assert_eq!(
            client_ip(&parts(Some(&swapped)), &key).as_deref(),
            Some("127.0.0.9")
        );
        assert_eq!(client_ip(&parts(None), &key).as_deref(), Some("127.0.0.9"));
    }
}
