//! Who is at the browser: the `api_token` is given once at the login form
//! and kept as a signed session cookie (HttpOnly, SameSite=Strict, Secure
//! when `external_url` is https); every console form carries a token tied
//! to that cookie, so a post made by another site fails twice (its Origin,
//! and its missing form token). The same key signs the acknowledge links in
//! notifications ([`super::links`]).
//!
//! A session cookie is `EXPIRY.NAME.SIGNATURE` (NAME base64url, the name
//! the person gave); its signature covers the token in force, so changing
//! `api_token` ends every session.

pub use crate::signing::SigningKey;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};

/// The session cookie's name.
pub const COOKIE: &str = "tocsin_session";
/// How long a login lasts.
pub const LIFETIME: chrono::Duration = chrono::Duration::hours(12);

/// A logged-in person (or, without `api_token`, whoever gave a name).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The name they gave (may be empty).
    pub name: String,
    /// The cookie's value, which form tokens are tied to.
    cookie: String,
}

/// A new session cookie's value for `name`, valid from `now` for [`LIFETIME`].
pub fn new_cookie(key: &SigningKey, token: Option<&str>, name: &str, now: DateTime<Utc>) -> String {
    let expiry = (now + LIFETIME).timestamp().to_string();
    let name = B64.encode(name.as_bytes());
    let signature = key.sign(&[
        b"session",
        expiry.as_bytes(),
        name.as_bytes(),
        token.unwrap_or("").as_bytes(),
    ]);
    format!("{expiry}.{name}.{signature}")
}

/// The `Set-Cookie` value that keeps `value` (`secure`: https only).
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME.num_seconds(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends the session.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// A cookie named `name` of the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The request's session, if its cookie is valid now for the token in force.
pub fn session(
    key: &SigningKey,
    token: Option<&str>,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Option<Session> {
    let value = cookie(headers, COOKIE)?;
    let mut parts = value.splitn(3, '.');
    let (expiry, name, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if expiry.parse::<i64>().ok()? <= now.timestamp() {
        return None;
    }
    let valid = key.verify(
        &[
            b"session",
            expiry.as_bytes(),
            name.as_bytes(),
            token.unwrap_or("").as_bytes(),
        ],
        signature,
    );
    if !valid {
        return None;
    }
    let name = String::from_utf8(B64.decode(name).ok()?).ok()?;
    Some(Session {
        name,
        cookie: value.to_string(),
    })
}

/// The form token of pages shown to `session` (or to nobody in particular).
pub fn form_token(key: &SigningKey, session: Option<&Session>) -> String {
    let tied_to = session.map_or("", |s| s.cookie.as_str());
    key.sign(&[b"form", tied_to.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE}={value}")).unwrap(),
        );
        h
    }

    #[test]
    fn a_session_holds_until_it_expires_or_the_token_changes() {
        let key = SigningKey::default();
        let token = Some("t0ken");
        let now = Utc::now();
        let value = new_cookie(&key, token, "李雷", now);
        let s = session(&key, token, &with_cookie(&value), now).expect("valid");
        assert_eq!(s.name, "李雷");
        assert!(
            session(&key, token, &with_cookie(&value), now + LIFETIME).is_none(),
            "expired"
        );
        let other_key = SigningKey::default();
        assert!(session(&other_key, token, &with_cookie(&value), now).is_none());
        assert!(
            session(&key, Some("new-token"), &with_cookie(&value), now).is_none(),
            "a new token ends old sessions"
        );
    }

    #[test]
    fn a_forged_cookie_is_refused() {
        let key = SigningKey::default();
        let token = Some("t0ken");
        let now = Utc::now();
        let value = new_cookie(&key, token, "li", now);
        let (rest, _) = value.rsplit_once('.').unwrap();
        let forged = format!("{rest}.AAAA");
        assert!(session(&key, token, &with_cookie(&forged), now).is_none());
        // Another name under the same signature.
        let mut parts: Vec<&str> = value.split('.').collect();
        let admin = B64.encode("admin");
        parts[1] = &admin;
        assert!(session(&key, token, &with_cookie(&parts.join(".")), now).is_none());
        // A later expiry under the same signature.
        let later = format!(
            "{}{}",
            (now + LIFETIME * 10).timestamp(),
            &value[value.find('.').unwrap()..]
        );
        assert!(session(&key, token, &with_cookie(&later), now).is_none());
    }

    #[test]
    fn form_tokens_are_tied_to_the_session() {
        let key = SigningKey::default();
        let token: Option<&str> = None;
        let now = Utc::now();
        let a = session(
            &key,
            token,
            &with_cookie(&new_cookie(&key, token, "a", now)),
            now,
        )
        .unwrap();
        let b = session(
            &key,
            token,
            &with_cookie(&new_cookie(&key, token, "b", now)),
            now,
        )
        .unwrap();
        assert_ne!(form_token(&key, Some(&a)), form_token(&key, Some(&b)));
        assert_ne!(form_token(&key, Some(&a)), form_token(&key, None));
    }
}
