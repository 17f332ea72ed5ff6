-- The callback outbox: a status callback is a row written in the same transaction as the
-- change that causes it, sent by the dispatcher, retried, and kept as a dead letter when it
-- cannot be delivered.

CREATE TABLE callbacks (
    id              INTEGER PRIMARY KEY,
    account_sid     TEXT NOT NULL,
    recording_sid   TEXT NOT NULL,
    event           TEXT NOT NULL,
    method          TEXT NOT NULL,
    url             TEXT NOT NULL,
    params          TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE state = 'pending';
CREATE INDEX callbacks_by_recording ON callbacks (recording_sid, id);
CREATE INDEX callbacks_dead ON callbacks (account_sid, id) WHERE state = 'dead'
