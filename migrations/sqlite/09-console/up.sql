-- Who took a firing alert (the console's "acknowledge"): its repeats stop
-- until it resolves or escalates past `severity`. The row goes when the
-- alert resolves (store/alerts.rs, in the same transaction).
CREATE TABLE acknowledgements (
    fingerprint TEXT PRIMARY KEY,
    acknowledged_by TEXT NOT NULL,
    at INTEGER NOT NULL,
    severity TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT ''
);

-- Keys the daemon makes for itself, once: `console` signs the console's
-- session cookies, form tokens and the acknowledge links in notifications.
CREATE TABLE daemon_keys (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- What the channel answered when a notification was sent (the console shows
-- it beside each notification of an alert); failures keep `last_error`.
ALTER TABLE notifications ADD COLUMN answer TEXT;
