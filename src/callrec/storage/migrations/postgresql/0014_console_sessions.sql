-- Sign-ins to the web console (docs/ARCHITECTURE.md, "The console"). A session is known by the
-- SHA-256 of its cookie's token, so the table holds nothing a browser could present; signing out
-- deletes the row, and a row past `expires_at` is refused and purged.
CREATE TABLE console_sessions (
    token_hash      TEXT PRIMARY KEY,
    credential_sid  TEXT NOT NULL,
    account_sid     TEXT NOT NULL,
    csrf_token      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
