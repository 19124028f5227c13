//! The acknowledge link a notification carries:
//! `EXTERNAL_URL/ack/FINGERPRINT?f=FIRED&e=EXPIRY&s=SIGNATURE`, signed for
//! one firing of one alert (`f`: when it fired, Unix ms) and working until
//! `e` (Unix seconds, [`LIFETIME`] after it fired). The console's
//! `/ack/...` page checks it ([`AckLinks::genuine`]) and offers to
//! acknowledge or silence without logging in.

use chrono::{DateTime, Utc};

use crate::alert::Fingerprint;
use crate::signing::SigningKey;

/// How long a link works at most.
pub const LIFETIME: chrono::Duration = chrono::Duration::days(7);

/// Makes and checks links (the key, and where people reach the daemon).
#[derive(Debug, Clone)]
pub struct AckLinks {
    key: SigningKey,
    /// `external_url`, without a trailing slash.
    base: String,
}

fn parts(fp: Fingerprint, fired_ms: i64, expiry: i64) -> [String; 3] {
    [fp.to_string(), fired_ms.to_string(), expiry.to_string()]
}

impl AckLinks {
    pub fn new(key: SigningKey, base: &str) -> AckLinks {
        AckLinks {
            key,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// The path and query of the link for the firing of `fp` that began at `fired_at`.
    pub fn path(key: &SigningKey, fp: Fingerprint, fired_at: DateTime<Utc>) -> String {
        let fired_ms = fired_at.timestamp_millis();
        let expiry = (fired_at + LIFETIME).timestamp();
        let [a, b, c] = parts(fp, fired_ms, expiry);
        let sig = key.sign(&[b"ack", a.as_bytes(), b.as_bytes(), c.as_bytes()]);
        format!("/ack/{fp}?f={fired_ms}&e={expiry}&s={sig}")
    }

    /// The whole link.
    pub fn url(&self, fp: Fingerprint, fired_at: DateTime<Utc>) -> String {
        format!("{}{}", self.base, AckLinks::path(&self.key, fp, fired_at))
    }

    /// Whether `(f, e, s)` is a link signed by `key` for `fp` that works at `now`.
    pub fn genuine(
        key: &SigningKey,
        fp: Fingerprint,
        fired_ms: i64,
        expiry: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> bool {
        let [a, b, c] = parts(fp, fired_ms, expiry);
        expiry > now.timestamp()
            && key.verify(
                &[b"ack", a.as_bytes(), b.as_bytes(), c.as_bytes()],
                signature,
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_holds_for_its_firing_until_it_expires() {
        let key = SigningKey::default();
        let fired = Utc::now();
        let fp = Fingerprint(42);
        let links = AckLinks::new(key.clone(), "https://tocsin.example/");
        let url = links.url(fp, fired);
        assert!(
            url.starts_with("https://tocsin.example/ack/000000000000002a?f="),
            "{url}"
        );
        let q: std::collections::HashMap<String, String> =
            form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        let (f, e, s) = (q["f"].parse().unwrap(), q["e"].parse().unwrap(), &q["s"]);
        assert!(AckLinks::genuine(&key, fp, f, e, s, fired));
        assert!(
            !AckLinks::genuine(&key, Fingerprint(43), f, e, s, fired),
            "another alert"
        );
        assert!(
            !AckLinks::genuine(&key, fp, f + 1, e, s, fired),
            "another firing"
        );
        assert!(
            !AckLinks::genuine(&key, fp, f, e + 1, s, fired),
            "a later expiry"
        );
        assert!(
            !AckLinks::genuine(&key, fp, f, e, s, fired + LIFETIME),
            "expired"
        );
        assert!(
            !AckLinks::genuine(&SigningKey::default(), fp, f, e, s, fired),
            "another key"
        );
    }
}
