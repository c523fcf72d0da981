-- How a trunk's inbound calls are authenticated: 'ip' (by source address)
-- or 'digest' (by the trunk's credentials); '' (trunks made before this
-- column) means ip.
ALTER TABLE trunks ADD COLUMN inbound_auth TEXT NOT NULL DEFAULT '';
