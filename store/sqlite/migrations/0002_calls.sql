-- The calls the server has held and their transfers. Ids are UUIDv7
-- strings, so ordering by id is ordering by creation. Timestamps are ISO
-- 8601 UTC text with milliseconds. Optional values are NULL when unset.
--
-- number_id and assistant_id are not foreign keys: a call's record
-- outlives the number and the assistant it came through.

CREATE TABLE calls (
    id               TEXT NOT NULL PRIMARY KEY,
    direction        TEXT NOT NULL,
    status           TEXT NOT NULL,
    caller_phone     TEXT,
    agent_phone      TEXT,
    number_id        TEXT,
    assistant_id     TEXT,
    sip_call_id      TEXT,
    remote_addr      TEXT,
    trunk_id         TEXT,
    started_at       TEXT,
    ended_at         TEXT,
    duration_seconds INTEGER,
    end_reason       TEXT,
    error            TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;

-- Listing newest first, with or without a status filter, and finding the
-- live calls on a restart.
CREATE INDEX calls_status_id ON calls (status, id);
CREATE INDEX calls_created_at_id ON calls (created_at, id);

-- steps is a JSON array of {status, sip_status, reason, at}, oldest first.
CREATE TABLE transfers (
    id               TEXT NOT NULL PRIMARY KEY,
    call_id          TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    destination      TEXT NOT NULL,
    destination_type TEXT NOT NULL,
    refer_to         TEXT,
    message          TEXT,
    status           TEXT NOT NULL,
    sip_status       INTEGER,
    reason           TEXT,
    requested_by     TEXT,
    steps            TEXT NOT NULL CHECK (json_valid(steps) AND json_type(steps) = 'array'),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    ended_at         TEXT
) STRICT;

CREATE INDEX transfers_call_id ON transfers (call_id, created_at, id);
