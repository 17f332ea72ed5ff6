-- Retention (README, "Running it in production"): an account's own period after which a completed
-- recording's audio is deleted (NULL: the server's default), and when each recording completed.
-- The index serves the sweep for recordings past their period; no status change on the hot path
-- writes either column, so pauses and resumes stay HOT updates on PostgreSQL (migration 0007).
ALTER TABLE accounts ADD COLUMN retention BIGINT;
ALTER TABLE recordings ADD COLUMN completed_at BIGINT;
UPDATE recordings SET completed_at = updated_at WHERE status = 'completed';
CREATE INDEX recordings_to_expire ON recordings (completed_at)
    WHERE completed_at IS NOT NULL AND deleted_at IS NULL;
