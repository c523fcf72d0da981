-- The statistics indexes of migration 0008 held a transfer's live status,
-- sip_status and reason, so that every step of a transfer in flight
-- (accepted, trying, ringing) rewrote an entry in all five of them: most
-- of the pages a transfer's steps append to the log. They hold instead
-- columns that change only when a transfer starts and when it ends:
--   final_status, final_sip_status, final_reason: status, sip_status and
--     reason of a final transfer (completed, failed, canceled), NULL while
--     it is in flight. The statistics read nothing else of these three:
--     a transfer in flight counts as attempted only.
-- SaveTransfer writes a step in flight without touching a column of these
-- indexes (see saveTransferLiveSQL).
ALTER TABLE transfers ADD COLUMN final_status TEXT;
ALTER TABLE transfers ADD COLUMN final_sip_status INTEGER;
ALTER TABLE transfers ADD COLUMN final_reason TEXT;
UPDATE transfers SET final_status = status, final_sip_status = sip_status, final_reason = reason
    WHERE status IN ('completed', 'failed', 'canceled');

DROP INDEX transfers_stats;
DROP INDEX transfers_stats_assistant;
DROP INDEX transfers_stats_number;
DROP INDEX transfers_stats_destination;
DROP INDEX transfers_connect;
-- As in 0008, with the final columns in place of the live ones.
CREATE INDEX transfers_stats ON transfers (call_created_at, call_assistant_id, call_number_id,
    attempted, final_status, final_sip_status, connect_ms, destination, call_id, final_reason);
CREATE INDEX transfers_stats_assistant ON transfers (call_assistant_id, call_created_at,
    call_number_id, attempted, final_status, final_sip_status, connect_ms, destination, call_id, final_reason);
CREATE INDEX transfers_stats_number ON transfers (call_number_id, call_created_at,
    call_assistant_id, attempted, final_status, final_sip_status, connect_ms, destination, call_id, final_reason);
CREATE INDEX transfers_stats_destination ON transfers (destination, call_created_at,
    call_assistant_id, call_number_id, attempted, final_status, final_sip_status, connect_ms, call_id, final_reason);
CREATE INDEX transfers_connect ON transfers (connect_ms, attempted, final_status, call_created_at,
    call_assistant_id, call_number_id, destination);
