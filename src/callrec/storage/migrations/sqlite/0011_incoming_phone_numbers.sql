-- Phone numbers an app configures (the IncomingPhoneNumbers resource), and the direction of a
-- call: one placed to such a number through callrec's IncomingCalls extension is `inbound`.
-- A number belongs to one account; `settings` holds what the app set on it (JSON).
CREATE TABLE phone_numbers (
    id              INTEGER PRIMARY KEY,
    sid             TEXT NOT NULL UNIQUE,
    account_sid     TEXT NOT NULL REFERENCES accounts (sid),
    phone_number    TEXT NOT NULL UNIQUE,
    friendly_name   TEXT NOT NULL,
    settings        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX phone_numbers_by_account ON phone_numbers (account_sid, created_at DESC, id DESC);

ALTER TABLE calls ADD COLUMN direction TEXT NOT NULL DEFAULT 'outbound-api';
