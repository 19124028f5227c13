-- Which replica is sending a pending row and until when (Unix ms): set by
-- the claim (`FOR UPDATE SKIP LOCKED`, and only by the replica that holds
-- the leader lease), cleared when the answer is recorded. A claim of a
-- replica that no longer leads is void; one whose answer could not be
-- recorded ends at `claimed_until`, and the row is sent again.
ALTER TABLE notifications ADD COLUMN claimed_by TEXT COLLATE "C";
ALTER TABLE notifications ADD COLUMN claimed_until BIGINT;
