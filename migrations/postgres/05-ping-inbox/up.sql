-- Pings a standby took while no leader answered it (takeover, the leader
-- gone): kept here, durable before the standby's answer, until the next
-- leader replays them through its ping writer in `id` order with the time
-- they were received, and deletes them.
CREATE TABLE ping_inbox (
    id          BIGSERIAL PRIMARY KEY,
    received_at BIGINT NOT NULL,                              -- Unix ms, the standby's clock
    received_by TEXT COLLATE "C" NOT NULL,                    -- the standby's name in the lease
    method      TEXT COLLATE "C" NOT NULL,
    path        TEXT COLLATE "C" NOT NULL,                    -- path and query (holds the check's key)
    remote_addr TEXT COLLATE "C",
    user_agent  TEXT COLLATE "C",
    body        BYTEA NOT NULL,                               -- the first ping_body_limit bytes
    body_size   BIGINT NOT NULL                               -- bytes received
);
