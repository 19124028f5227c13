-- Grouping: outbox rows carry the key of the route group they belong to;
-- a group's rows share one due time (group_wait / group_interval), and the
-- last time a group was sent decides when its next message may go.
ALTER TABLE notifications ADD COLUMN group_key TEXT NOT NULL DEFAULT '';
CREATE INDEX notifications_by_group ON notifications (target, group_key, status);

CREATE TABLE notification_groups (
    target       TEXT NOT NULL,
    group_key    TEXT NOT NULL,
    last_sent_at INTEGER NOT NULL,               -- Unix milliseconds
    PRIMARY KEY (target, group_key)
) WITHOUT ROWID;

-- The oldest due row of a target, found without sorting every due row.
CREATE INDEX notifications_pending_by_id ON notifications (target, status, id);
