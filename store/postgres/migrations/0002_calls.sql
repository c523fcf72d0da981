-- The calls the nodes have held and their transfers. Optional values are
-- NULL when unset. number_id and assistant_id are not foreign keys: a
-- call's record outlives the number and the assistant it came through.

CREATE TABLE calls (
    id               text PRIMARY KEY,
    direction        text NOT NULL,
    status           text NOT NULL,
    caller_phone     text,
    agent_phone      text,
    number_id        text,
    assistant_id     text,
    sip_call_id      text,
    remote_addr      text,
    trunk_id         text,
    started_at       timestamptz,
    ended_at         timestamptz,
    duration_seconds integer,
    end_reason       text,
    error            text,
    first_message    text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- Listing newest first, with or without a status filter, and finding the
-- live calls.
CREATE INDEX calls_status_id ON calls (status, id);
-- The statistics: calls in a period, by assistant or number.
CREATE INDEX calls_created_at ON calls (created_at, assistant_id, number_id);
CREATE INDEX calls_assistant_created ON calls (assistant_id, created_at);
CREATE INDEX calls_number_created ON calls (number_id, created_at);

-- steps is a JSON array of {status, attempt, sip_status, reason, at},
-- oldest first; attempts a JSON array of core.TransferAttempt, NULL for a
-- single blind attempt.
--
-- A transfer carries what the statistics read of it and of its call
-- (call_created_at, call_assistant_id, call_number_id: copies of its
-- call's; attempted: a REFER went out; connect_ms: request to completion
-- of a completed transfer), so that they need no join.
CREATE TABLE transfers (
    id                text PRIMARY KEY,
    call_id           text NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    destination       text NOT NULL,
    destination_type  text NOT NULL,
    refer_to          text,
    message           text,
    status            text NOT NULL,
    sip_status        integer,
    reason            text,
    requested_by      text,
    confirmed_by      text,
    mode              text,
    summary           text,
    attempt           integer,
    attempts          jsonb,
    steps             jsonb NOT NULL CHECK (jsonb_typeof(steps) = 'array'),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    ended_at          timestamptz,
    call_created_at   timestamptz,
    call_assistant_id text,
    call_number_id    text,
    attempted         boolean NOT NULL DEFAULT false,
    connect_ms        double precision
);

CREATE INDEX transfers_call_id ON transfers (call_id, created_at, id);
CREATE INDEX transfers_stats ON transfers (call_created_at) INCLUDE (call_assistant_id, call_number_id,
    attempted, status, sip_status, connect_ms, destination, call_id, reason);
CREATE INDEX transfers_stats_assistant ON transfers (call_assistant_id, call_created_at);
CREATE INDEX transfers_stats_number ON transfers (call_number_id, call_created_at);
CREATE INDEX transfers_stats_destination ON transfers (destination, call_created_at);
