-- The webhook outbox: one row per event per webhook URL, written in the
-- transaction of the change it announces and updated after each attempt.
-- call_id and assistant_id are not foreign keys: a delivery outlives the
-- call it announces and the assistant whose secret signs it. body is the
-- JSON sent, byte for byte (text, not jsonb, which would reformat it).
--
-- A node claims a delivery by moving next_attempt_at past its attempt's
-- timeout (FOR UPDATE SKIP LOCKED); a node that dies leaves the claim to
-- run out, and the delivery falls due for any node again.

CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,
    call_id         text,
    assistant_id    text,
    url             text NOT NULL,
    event_type      text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);

-- The dispatchers' scan: pending deliveries in the order they fall due.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
-- A call's oldest pending delivery to a URL: each probe is one seek.
CREATE INDEX webhook_deliveries_pending_call ON webhook_deliveries (call_id, url, id) WHERE status = 'pending';
-- Listing a call's deliveries, and listing by status, newest first.
CREATE INDEX webhook_deliveries_call_id ON webhook_deliveries (call_id, id);
CREATE INDEX webhook_deliveries_status_id ON webhook_deliveries (status, id);
