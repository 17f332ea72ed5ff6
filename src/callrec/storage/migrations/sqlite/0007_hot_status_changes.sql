-- The recordings to finalize are found by their finalizer, not by a partial index on status:
-- every UpdateCallRecording changes a status, and each change had to be checked against that
-- index. The finalizer is set when a recording stops and cleared when it is final. (In
-- PostgreSQL this step also makes status changes HOT updates and drops the timeline's foreign
-- keys; SQLite has no HOT updates, and its foreign keys stay: they cost little here.)

DROP INDEX recordings_to_finalize;
UPDATE recordings SET finalizer = NULL WHERE status NOT IN ('stopped', 'processing');
CREATE INDEX recordings_to_finalize ON recordings (finalizer) WHERE finalizer IS NOT NULL
