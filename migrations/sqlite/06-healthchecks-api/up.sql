-- Checks made through the Healthchecks Management API (/api/v3/checks/):
-- their settings are their own (not their template's), and they carry
-- Healthchecks' tags and description. Their origin stays 'auto' (the
-- column's CHECK cannot change without rebuilding the table, which would
-- cascade to the pings); `api` tells them apart.
ALTER TABLE heartbeat_checks ADD COLUMN api INTEGER NOT NULL DEFAULT 0;
ALTER TABLE heartbeat_checks ADD COLUMN tags TEXT NOT NULL DEFAULT '';          -- space-separated, as in Healthchecks
ALTER TABLE heartbeat_checks ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- The integrations a client assigned (comma-separated ids, sorted); shown
-- back to it, while routing still goes by labels.
ALTER TABLE heartbeat_checks ADD COLUMN channels TEXT NOT NULL DEFAULT '';

-- Status changes between up and down (Healthchecks' flips), written with the
-- ping that causes or ends them; a check going down by silence is written
-- when its next ping comes (the API adds an ongoing one itself). Bounded
-- like the pings: the last `heartbeat.keep_pings` of each check are kept.
CREATE TABLE heartbeat_flips (
    check_id INTEGER NOT NULL REFERENCES heartbeat_checks (id) ON DELETE CASCADE,
    at       INTEGER NOT NULL,                   -- Unix milliseconds
    up       INTEGER NOT NULL CHECK (up IN (0, 1))
);
CREATE INDEX heartbeat_flips_by_check ON heartbeat_flips (check_id, at);

-- heartbeat_status again, with the API's origin, tags and description.
DROP VIEW heartbeat_status;
CREATE VIEW heartbeat_status AS
SELECT
    c.name,
    c.slug,
    c.labels,
    CASE WHEN c.api THEN 'api' ELSE c.origin END AS origin,
    c.period_seconds,
    c.cron,
    c.timezone,
    c.grace_seconds,
    c.paused,
    c.last_ping_at / 1000.0 AS last_ping,
    c.last_start_at / 1000.0 AS last_start,
    c.last_status,
    c.last_exit_code,
    c.last_duration_ms / 1000.0 AS last_duration_seconds,
    c.due_at / 1000.0 AS due_at,
    t.now - c.last_ping_at / 1000.0 AS age_seconds,
    t.now - c.last_start_at / 1000.0 AS running_seconds,
    t.now - (c.due_at / 1000.0 + c.grace_seconds) AS overdue_seconds,
    c.pings,
    c.tags,
    c.description
FROM heartbeat_checks AS c, (SELECT (julianday('now') - 2440587.5) * 86400.0 AS now) AS t;
