-- The dispatcher's scan holds the pending deliveries only, as PostgreSQL's
-- does: delivered and dead rows stay in the table for good, and every
-- outcome moved its row from one place in the index to another (a write
-- into an index as large as the table) where it now only leaves it. The
-- due queries name status = 'pending' as the definition does.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
