-- The leader lease of replicas sharing this database (PostgreSQL only: a
-- SQLite file has one process). One row, `leader`: who holds it, since
-- when, and until when (Unix milliseconds of the server's clock, so the
-- replicas' clocks never decide). `epoch` grows by one whenever the holder
-- changes.
CREATE TABLE leader_lease (
    name        TEXT COLLATE "C" PRIMARY KEY,
    holder      TEXT COLLATE "C" NOT NULL,
    epoch       BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    renewed_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
