-- Routing: external events (POST /api/v2/alerts) and silences.
-- Times are Unix milliseconds (UTC).

-- When an external alert resolves unless it is posted again: its endsAt, or
-- the resolve timeout after the last post. One row per active external alert.
CREATE TABLE external_alerts (
    fingerprint   TEXT PRIMARY KEY,
    expires_at    INTEGER NOT NULL,
    generator_url TEXT NOT NULL DEFAULT '',
    updated_at    INTEGER NOT NULL
);
CREATE INDEX external_alerts_by_expiry ON external_alerts (expires_at);

-- Silences: matching alerts keep their state but notify nobody while active.
CREATE TABLE silences (
    id         TEXT PRIMARY KEY,
    matchers   TEXT NOT NULL,                    -- JSON [{name, value, isRegex, isEqual}]
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    comment    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);
