-- Alert state, transition history and the notification outbox.
-- Times are Unix milliseconds (UTC).

-- Current state: one row per alert (fingerprint = rule group + labels).
CREATE TABLE alerts (
    fingerprint       TEXT PRIMARY KEY,
    rule_group        TEXT NOT NULL,
    alert             TEXT NOT NULL,
    labels            TEXT NOT NULL,             -- JSON object
    annotations       TEXT NOT NULL DEFAULT '{}',-- JSON object, rendered
    message           TEXT NOT NULL DEFAULT '',
    resolution        TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    severity          TEXT NOT NULL CHECK (severity IN ('warning', 'error')),
    value             REAL,
    active_at         INTEGER NOT NULL,          -- became pending (the `for` timer)
    fired_at          INTEGER,
    keep_firing_since INTEGER,                   -- condition false, held by keep_firing_for
    resolved_at       INTEGER,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX alerts_by_rule ON alerts (rule_group, alert);

-- Every transition, for history and audits.
CREATE TABLE alert_events (
    id            INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    fingerprint   TEXT NOT NULL,
    rule_group    TEXT NOT NULL,
    alert         TEXT NOT NULL,
    labels        TEXT NOT NULL,
    from_state    TEXT NOT NULL,                 -- inactive | pending | firing | resolved
    to_state      TEXT NOT NULL,
    from_severity TEXT,
    to_severity   TEXT,
    value         REAL,
    reason        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alert_events_by_fingerprint ON alert_events (fingerprint, at);

-- The outbox: written in the transaction of the transition, sent afterwards,
-- retried with backoff, kept after delivery as a record.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    target          TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    kind            TEXT NOT NULL,               -- firing | resolved | escalated | deescalated
    payload         TEXT NOT NULL,               -- JSON snapshot of the alert
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX notifications_due ON notifications (target, status, next_attempt_at);
CREATE INDEX notifications_by_fingerprint ON notifications (fingerprint, id);
