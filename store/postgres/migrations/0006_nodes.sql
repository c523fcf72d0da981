-- Several nodes sharing the store: each node's lease (renewed with one
-- write whatever the number of calls it holds, on the database's clock)
-- and, on each call, the node holding its SIP dialog and media. A call of
-- a node whose lease has run out is taken over by another node and
-- recorded ended (node_lost). A single server records no node.
CREATE TABLE nodes (
    id          text PRIMARY KEY,
    url         text NOT NULL,
    lease_until timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

ALTER TABLE calls ADD COLUMN node_id text;

-- A node's live calls (a restart's, a sweep's).
CREATE INDEX calls_node_id_status ON calls (node_id, status) WHERE node_id IS NOT NULL;
