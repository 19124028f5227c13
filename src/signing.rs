//! The daemon's own signatures: HMAC-SHA256 with a key the daemon makes
//! once and keeps in its database (`daemon_keys`), for the console's
//! session cookies and form tokens and the acknowledge links in
//! notifications; and the constant-time comparison every secret check uses.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The daemon's signing key (kept in the database: `daemon_keys.console`).
#[derive(Clone)]
pub struct SigningKey(Arc<[u8; 32]>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl Default for SigningKey {
    /// A key for this process only (tests, and a daemon before its store is open).
    fn default() -> SigningKey {
        let mut k = [0u8; 32];
        k[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        k[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        SigningKey::new(k)
    }
}

impl SigningKey {
    pub fn new(bytes: [u8; 32]) -> SigningKey {
        SigningKey(Arc::new(bytes))
    }

    /// HMAC-SHA256 over the parts (each length-prefixed), base64url.
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_slice())
            .expect("HMAC accepts any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        B64.encode(mac.finalize().into_bytes())
    }

    /// Whether `signature` is the signature of `parts` (constant time).
    pub fn verify(&self, parts: &[&[u8]], signature: &str) -> bool {
        constant_time_eq(self.sign(parts).as_bytes(), signature.as_bytes())
    }
}

/// Compares without leaking, through timing, how much of a key was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
