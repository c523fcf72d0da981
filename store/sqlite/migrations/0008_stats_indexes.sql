-- Transfer statistics (transfer_stats) over a period of calls, by
-- assistant, phone number, destination or day, fast on millions of calls.
--
-- A transfer carries what the statistics read of it and of its call, so
-- that they come from one covering index, without a join or a table
-- lookup per row; SaveTransfer writes these columns:
--   call_created_at, call_assistant_id, call_number_id: copies of its
--     call's creation time, assistant and number;
--   attempted: 1 when a REFER went out (refer_to set); refusals by policy
--     are recorded without one and are not attempts;
--   connect_ms: whole milliseconds from the request to the completion of
--     a completed transfer, NULL otherwise.
-- (Generated columns would keep themselves in step, but SQLite does not
-- treat an index holding a virtual column as covering.)
ALTER TABLE transfers ADD COLUMN call_created_at TEXT;
ALTER TABLE transfers ADD COLUMN call_assistant_id TEXT;
ALTER TABLE transfers ADD COLUMN call_number_id TEXT;
ALTER TABLE transfers ADD COLUMN attempted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN connect_ms REAL;
UPDATE transfers SET
    call_created_at = (SELECT c.created_at FROM calls c WHERE c.id = transfers.call_id),
    call_assistant_id = (SELECT c.assistant_id FROM calls c WHERE c.id = transfers.call_id),
    call_number_id = (SELECT c.number_id FROM calls c WHERE c.id = transfers.call_id),
    attempted = (refer_to IS NOT NULL),
    connect_ms = CASE WHEN status = 'completed' AND ended_at IS NOT NULL
        THEN round((unixepoch(ended_at, 'subsec') - unixepoch(created_at, 'subsec')) * 1000.0) END;

-- Calls in a period, with the columns the filters and groups read.
CREATE INDEX calls_stats ON calls (created_at, assistant_id, number_id);
CREATE INDEX calls_assistant_created ON calls (assistant_id, created_at, number_id);
CREATE INDEX calls_number_created ON calls (number_id, created_at, assistant_id);
-- Transfers in a period: everything the figures read is in the index.
CREATE INDEX transfers_stats ON transfers (call_created_at, call_assistant_id, call_number_id,
    attempted, status, sip_status, connect_ms, destination, call_id, reason);
CREATE INDEX transfers_stats_assistant ON transfers (call_assistant_id, call_created_at,
    call_number_id, attempted, status, sip_status, connect_ms, destination, call_id, reason);
CREATE INDEX transfers_stats_number ON transfers (call_number_id, call_created_at,
    call_assistant_id, attempted, status, sip_status, connect_ms, destination, call_id, reason);
CREATE INDEX transfers_stats_destination ON transfers (destination, call_created_at,
    call_assistant_id, call_number_id, attempted, status, sip_status, connect_ms, call_id, reason);
-- Transfers in connect-time order (NULLs, the not completed, first), for
-- the percentiles. Leading with connect_ms, it is no candidate for the
-- other queries.
CREATE INDEX transfers_connect ON transfers (connect_ms, attempted, status, call_created_at,
    call_assistant_id, call_number_id, destination);
