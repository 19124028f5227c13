-- Heartbeats: checks that backup clients (or any job) ping, and the bounded
-- log of their pings. Times are Unix milliseconds (UTC), as in 01-init.

-- One row per check: its settings (from the rule files, refreshed at every
-- start) and its current state (written with the pings that change it).
CREATE TABLE heartbeat_checks (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    uuid            TEXT NOT NULL UNIQUE,          -- the key in /ping/{uuid}
    slug            TEXT UNIQUE,                   -- /ping/{ping_key}/{slug}
    origin          TEXT NOT NULL CHECK (origin IN ('config', 'auto')),
    period_seconds  REAL,                          -- `every`, or NULL for cron
    cron            TEXT,
    timezone        TEXT,
    grace_seconds   REAL NOT NULL,
    labels          TEXT NOT NULL DEFAULT '{}',    -- JSON object
    paused          INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    last_ping_at    INTEGER,                       -- last success or failure
    last_start_at   INTEGER,                       -- a run in progress (cleared when it ends)
    last_start_rid  TEXT,
    last_status     TEXT CHECK (last_status IN ('success', 'fail')),
    last_exit_code  INTEGER,
    last_duration_ms INTEGER,
    due_at          INTEGER,                       -- next ping expected by (before grace)
    pings           INTEGER NOT NULL DEFAULT 0     -- pings ever received (numbers the log)
);

-- The last `heartbeat.keep_pings` pings of each check (older ones are deleted
-- in the transaction that adds new ones).
CREATE TABLE heartbeat_pings (
    check_id    INTEGER NOT NULL REFERENCES heartbeat_checks (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,                  -- 1, 2, ... per check
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('success', 'start', 'fail', 'log')),
    exit_code   INTEGER,
    rid         TEXT,
    duration_ms INTEGER,                           -- of the run this ping ended
    method      TEXT NOT NULL,
    remote_addr TEXT,
    user_agent  TEXT,
    body        BLOB NOT NULL,                     -- the first ping_body_limit bytes
    body_size   INTEGER NOT NULL,                  -- bytes received
    PRIMARY KEY (check_id, n)
) WITHOUT ROWID;

-- For `sql:` rules: one row per check with times in seconds and the derived
-- figures a rule needs (`now` is the query's time).
CREATE VIEW heartbeat_status AS
SELECT
    c.name,
    c.slug,
    c.labels,
    c.origin,
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
    c.pings
FROM heartbeat_checks AS c, (SELECT (julianday('now') - 2440587.5) * 86400.0 AS now) AS t;

-- For `sql:` rules: the kept pings with their check's name and labels.
CREATE VIEW heartbeat_log AS
SELECT
    c.name,
    c.labels,
    p.n,
    p.at / 1000.0 AS at,
    p.kind,
    p.exit_code,
    p.rid,
    p.duration_ms / 1000.0 AS duration_seconds,
    p.body_size
FROM heartbeat_pings AS p JOIN heartbeat_checks AS c ON c.id = p.check_id;
