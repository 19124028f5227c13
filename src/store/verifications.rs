//! Contact address verifications (`contact_verifications`): a pending code's
//! hash per contact and kind, and when the address was confirmed.

use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::{Store, StoreError, from_millis, to_millis};

/// A confirmed address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifiedAddress {
    pub contact: String,
    /// `email` or `phone`.
    pub kind: String,
    pub address: String,
}

/// A pending code as stored.
#[derive(Debug, Clone)]
pub struct PendingCode {
    pub address: String,
    pub code_hash: String,
    pub expires_at: DateTime<Utc>,
    pub attempts: u32,
}

impl Store {
    /// Records a new pending code for the contact's address of `kind`
    /// (replacing any pending one). A different address than the one
    /// verified before loses the verification.
    pub async fn start_verification(
        &self,
        a: VerifiedAddress,
        code_hash: String,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.run(move |c| {
            let now = to_millis(Utc::now());
            c.execute(
                "INSERT INTO contact_verifications (contact, kind, address, code_hash, code_expires_at, attempts, sent_at, verified_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, NULL)
                 ON CONFLICT (contact, kind) DO UPDATE SET
                   verified_at = CASE WHEN address = excluded.address THEN verified_at ELSE NULL END,
                   address = excluded.address, code_hash = excluded.code_hash,
                   code_expires_at = excluded.code_expires_at, attempts = 0, sent_at = excluded.sent_at",
                params![a.contact, a.kind, a.address, code_hash, to_millis(expires_at), now],
            )?;
            Ok(())
        })
        .await
    }

    /// The pending codes of a contact, by kind.
    pub async fn pending_codes(
        &self,
        contact: &str,
    ) -> Result<Vec<(String, PendingCode)>, StoreError> {
        let contact = contact.to_string();
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT kind, address, code_hash, code_expires_at, attempts FROM contact_verifications
                 WHERE contact = ?1 AND code_hash IS NOT NULL ORDER BY kind",
            )?;
            let rows = stmt
                .query_map(params![contact], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        PendingCode {
                            address: r.get(1)?,
                            code_hash: r.get(2)?,
                            expires_at: from_millis(r.get(3)?),
                            attempts: r.get(4)?,
                        },
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Counts a wrong code against the pending one; drops it at `max`.
    pub async fn wrong_code(&self, contact: &str, kind: &str, max: u32) -> Result<(), StoreError> {
        let (contact, kind) = (contact.to_string(), kind.to_string());
        self.run(move |c| {
            c.execute(
                "UPDATE contact_verifications SET attempts = attempts + 1,
                   code_hash = CASE WHEN attempts + 1 >= ?3 THEN NULL ELSE code_hash END
                 WHERE contact = ?1 AND kind = ?2",
                params![contact, kind, max],
            )?;
            Ok(())
        })
        .await
    }

    /// Marks the pending address verified (when it is still `address`).
    pub async fn confirm_verification(&self, a: VerifiedAddress) -> Result<bool, StoreError> {
        self.run(move |c| {
            let n = c.execute(
                "UPDATE contact_verifications SET verified_at = ?4, code_hash = NULL, code_expires_at = NULL, attempts = 0
                 WHERE contact = ?1 AND kind = ?2 AND address = ?3 AND code_hash IS NOT NULL",
                params![a.contact, a.kind, a.address, to_millis(Utc::now())],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Every verified address, and whether any verification was ever started.
    pub async fn verified_addresses(&self) -> Result<(Vec<VerifiedAddress>, bool), StoreError> {
        self.run(|c| {
            let any: Option<i64> = c
                .query_row("SELECT 1 FROM contact_verifications LIMIT 1", [], |r| r.get(0))
                .optional()?;
            let mut stmt = c.prepare(
                "SELECT contact, kind, address FROM contact_verifications WHERE verified_at IS NOT NULL",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(VerifiedAddress {
                        contact: r.get(0)?,
                        kind: r.get(1)?,
                        address: r.get(2)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((rows, any.is_some()))
        })
        .await
    }
}
