-- The webhook outbox: one row per event per webhook URL, written in the
-- transaction of the change it announces and updated after each attempt.
-- Ids are UUIDv7 strings, so ordering by id is ordering by creation.
-- Timestamps are ISO 8601 UTC text with milliseconds. Optional values are
-- NULL when unset.
--
-- call_id and assistant_id are not foreign keys: a delivery outlives the
-- call it announces and the assistant whose secret signs it. body is the
-- JSON sent, byte for byte; the secret is looked up at send time and never
-- stored here.

CREATE TABLE webhook_deliveries (
    id              TEXT NOT NULL PRIMARY KEY,
    call_id         TEXT,
    assistant_id    TEXT,
    url             TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    body            TEXT NOT NULL CHECK (json_valid(body)),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    delivered_at    TEXT
) STRICT;

-- The dispatcher's scan: pending deliveries in the order they fall due.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at, id);
-- A call's oldest pending delivery to a URL: each probe is one seek. The
-- index holds the pending rows only, so it stays small however many
-- delivered and dead ones pile up.
CREATE INDEX webhook_deliveries_pending_call ON webhook_deliveries (call_id, url, id)
    WHERE status = 'pending';
-- Listing a call's deliveries, and listing by status, newest first.
-- Listing everything newest first walks the primary key's index backwards.
CREATE INDEX webhook_deliveries_call_id ON webhook_deliveries (call_id, id);
CREATE INDEX webhook_deliveries_status_id ON webhook_deliveries (status, id);
