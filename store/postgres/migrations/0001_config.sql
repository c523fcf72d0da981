-- The configuration objects. Ids are UUIDv7 strings, so ordering by id is
-- ordering by creation. Times are timestamptz with milliseconds (the store
-- truncates). Secrets are AES-256-GCM ciphertexts (nonce first), NULL when
-- unset, sealed as the SQLite store seals them.

CREATE TABLE assistants (
    id             text PRIMARY KEY,
    name           text NOT NULL,
    -- json, not jsonb: kept as written, so a tool's JSON Schema
    -- parameters read back byte for byte.
    config         json NOT NULL,
    webhook_secret bytea,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE TABLE trunks (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    host         text NOT NULL,
    port         integer NOT NULL DEFAULT 0,
    transport    text NOT NULL DEFAULT '',
    username     text NOT NULL DEFAULT '',
    password     bytea,
    -- 'ip' or 'digest'; '' means ip.
    inbound_auth text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE phone_numbers (
    id                text PRIMARY KEY,
    phone_number      text NOT NULL CONSTRAINT phone_numbers_phone_number_key UNIQUE,
    name              text NOT NULL DEFAULT '',
    assistant_id      text REFERENCES assistants (id),
    transfer_trunk_id text REFERENCES trunks (id),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

CREATE INDEX phone_numbers_assistant_id ON phone_numbers (assistant_id);
CREATE INDEX phone_numbers_transfer_trunk_id ON phone_numbers (transfer_trunk_id);
