-- Accounts, their credentials, calls, recordings and each recording's timeline.
-- Times are integer microseconds since the Unix epoch (UTC).

CREATE TABLE accounts (
    sid             TEXT PRIMARY KEY,
    friendly_name   TEXT NOT NULL,
    parent_sid      TEXT REFERENCES accounts (sid),
    created_at      BIGINT NOT NULL
);

-- An account's auth token (sid = the account's sid) or an API key (sid = SK...).
-- secret_hash is a salted scrypt hash; secret_sealed keeps an auth token encrypted with the
-- server's key, because status callbacks must be signed with it. API key secrets are not kept.
CREATE TABLE credentials (
    sid             TEXT PRIMARY KEY,
    account_sid     TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name   TEXT NOT NULL,
    secret_hash     TEXT NOT NULL,
    secret_sealed   BLOB,
    created_at      BIGINT NOT NULL
);
CREATE INDEX credentials_by_account ON credentials (account_sid);

CREATE TABLE calls (
    id              INTEGER PRIMARY KEY,
    sid             TEXT NOT NULL UNIQUE,
    account_sid     TEXT NOT NULL REFERENCES accounts (sid),
    to_number       TEXT NOT NULL,
    from_number     TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    answer_at       BIGINT NOT NULL,
    start_time      BIGINT,
    end_time        BIGINT,
    record          INTEGER NOT NULL,
    recording_options TEXT NOT NULL
);
CREATE INDEX calls_by_account ON calls (account_sid, created_at DESC, id DESC);
CREATE INDEX calls_pending ON calls (status) WHERE status IN ('queued', 'ringing');

CREATE TABLE recordings (
    id              INTEGER PRIMARY KEY,
    sid             TEXT NOT NULL UNIQUE,
    account_sid     TEXT NOT NULL REFERENCES accounts (sid),
    call_sid        TEXT NOT NULL,
    status          TEXT NOT NULL,
    source          TEXT NOT NULL,
    options         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    start_time      BIGINT NOT NULL,
    pause_behavior  TEXT,
    duration        INTEGER,
    error_code      INTEGER,
    deleted_at      BIGINT
);
CREATE INDEX recordings_by_account ON recordings (account_sid, created_at DESC, id DESC);
CREATE INDEX recordings_by_call ON recordings (call_sid, created_at DESC, id DESC);
CREATE INDEX recordings_to_finalize ON recordings (status)
    WHERE status IN ('stopped', 'processing');

CREATE TABLE recording_events (
    id              INTEGER PRIMARY KEY,
    recording_sid   TEXT NOT NULL REFERENCES recordings (sid),
    kind            TEXT NOT NULL,
    at              BIGINT NOT NULL,
    actor           TEXT,
    pause_behavior  TEXT
);
CREATE INDEX recording_events_by_recording ON recording_events (recording_sid, id);
