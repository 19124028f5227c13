-- Where the leader takes requests from the other replicas: a standby
-- forwards what it cannot answer itself (the API, pings, ingest, the
-- console) to this URL. Written with every claim and renewal.
ALTER TABLE leader_lease ADD COLUMN address TEXT COLLATE "C" NOT NULL DEFAULT '';
