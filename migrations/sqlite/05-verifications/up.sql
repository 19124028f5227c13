-- Verified contact addresses: `tocsin contact verify` stores the hash of a
-- six-digit code sent to one exact address; `tocsin contact confirm` (or the
-- API) marks that address verified. A row counts only while the config
-- still gives the contact that same address.
CREATE TABLE contact_verifications (
    contact         TEXT NOT NULL,
    kind            TEXT NOT NULL,                 -- email | phone
    address         TEXT NOT NULL,                 -- the address (E.164 for phones)
    code_hash       TEXT,                          -- SHA-256 of the pending code, hex
    code_expires_at INTEGER,                       -- Unix milliseconds
    attempts        INTEGER NOT NULL DEFAULT 0,    -- wrong codes for the pending one
    sent_at         INTEGER,
    verified_at     INTEGER,                       -- NULL: not verified
    PRIMARY KEY (contact, kind)
) WITHOUT ROWID;
