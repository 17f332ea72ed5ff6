-- Voice Recording Encryption (CONTRACT.md §12): accounts' RSA public keys (Accounts v1
-- Credentials/PublicKeys), the key an account's recordings are encrypted with, and each
-- encrypted recording's details (JSON: public_key_sid, encrypted_cek, iv).
CREATE TABLE public_keys (
    id              INTEGER PRIMARY KEY,
    sid             TEXT NOT NULL UNIQUE,
    account_sid     TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name   TEXT NOT NULL,
    pem             TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX public_keys_by_account ON public_keys (account_sid, created_at DESC, id DESC);
ALTER TABLE accounts ADD COLUMN encryption_key_sid TEXT;
ALTER TABLE recordings ADD COLUMN encryption TEXT;
