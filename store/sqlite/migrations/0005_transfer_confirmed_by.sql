-- How the user confirmed a transfer to an ad-hoc destination
-- ("elicitation"); NULL when the transfer policy alone allowed it.
ALTER TABLE transfers ADD COLUMN confirmed_by TEXT;
