-- The configuration objects. Ids are UUIDv7 strings, so ordering by id is
-- ordering by creation. Timestamps are ISO 8601 UTC text with milliseconds.
-- Secrets are AES-256-GCM ciphertexts (nonce first), NULL when unset.

CREATE TABLE assistants (
    id             TEXT NOT NULL PRIMARY KEY,
    name           TEXT NOT NULL,
    config         TEXT NOT NULL CHECK (json_valid(config)),
    webhook_secret BLOB,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;

CREATE TABLE trunks (
    id         TEXT NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    host       TEXT NOT NULL,
    port       INTEGER NOT NULL DEFAULT 0,
    transport  TEXT NOT NULL DEFAULT '',
    username   TEXT NOT NULL DEFAULT '',
    password   BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE phone_numbers (
    id                TEXT NOT NULL PRIMARY KEY,
    phone_number      TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL DEFAULT '',
    assistant_id      TEXT REFERENCES assistants (id),
    transfer_trunk_id TEXT REFERENCES trunks (id),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
) STRICT;

CREATE INDEX phone_numbers_assistant_id ON phone_numbers (assistant_id);
CREATE INDEX phone_numbers_transfer_trunk_id ON phone_numbers (transfer_trunk_id);
