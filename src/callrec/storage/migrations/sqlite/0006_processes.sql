-- Several processes on one database (docs/ARCHITECTURE.md, "Several processes"): the processes
-- of a deployment; which of them runs each call's live side (its timers, its media stream, the
-- capture gates of its recordings), finalizes each stopped recording and sends each callback,
-- and, for the events callrec records by itself (a gap in the audio), why. The process columns
-- have no foreign keys on purpose: on PostgreSQL every insert would share-lock its process's
-- row, and many inserts at once would pile their locks onto that one row.

CREATE TABLE processes (
    id              INTEGER PRIMARY KEY,
    address         TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT
);
-- Whatever ran before this migration is a process that has ended: the first server to start
-- takes over its unfinished work, as after any crash.
INSERT INTO processes (address, started_at) VALUES ('(before migration 0006)', 0);
ALTER TABLE calls ADD COLUMN owner INTEGER;
ALTER TABLE calls ADD COLUMN streaming INTEGER NOT NULL DEFAULT 0;
UPDATE calls SET owner = (SELECT max(id) FROM processes)
    WHERE status IN ('queued', 'ringing', 'in-progress');
CREATE INDEX calls_live_by_owner ON calls (owner)
    WHERE status IN ('queued', 'ringing', 'in-progress');
DROP INDEX calls_pending;
ALTER TABLE recordings ADD COLUMN finalizer INTEGER;
UPDATE recordings SET finalizer = (SELECT max(id) FROM processes)
    WHERE status IN ('stopped', 'processing');
ALTER TABLE callbacks ADD COLUMN claimed_by INTEGER;
ALTER TABLE recording_events ADD COLUMN detail TEXT
