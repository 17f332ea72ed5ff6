-- Each live recording carries its call's owner (docs/ARCHITECTURE.md, "Several processes"),
-- kept equal to it by every change of custody. A status change written in one statement
-- (PostgreSQL, storage/postgres_fast.py) then checks custody on the recording's own row, which
-- it locks anyway, instead of locking the call's row too on every pause.

ALTER TABLE recordings ADD COLUMN owner BIGINT;
UPDATE recordings SET owner = (SELECT owner FROM calls WHERE calls.sid = recordings.call_sid)
    WHERE status IN ('in-progress', 'paused')
