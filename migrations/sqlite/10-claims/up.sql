-- Which replica is sending a pending row, and until when its claim holds
-- (PostgreSQL replicas claim rows before they send them; a SQLite file has
-- one process, so the columns stay NULL there and exist only for the one
-- SQL text of both backends).
ALTER TABLE notifications ADD COLUMN claimed_by TEXT;
ALTER TABLE notifications ADD COLUMN claimed_until INTEGER;
