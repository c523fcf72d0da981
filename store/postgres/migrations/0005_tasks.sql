-- Tool calls an MCP client ran as tasks: a task outlives its request, its
-- session and the node, so a client can read it through any node.
CREATE TABLE tasks (
    id          text PRIMARY KEY,
    owner       text NOT NULL,
    tool        text NOT NULL,
    call_id     text NOT NULL DEFAULT '',
    transfer_id text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    ttl_ms      bigint NOT NULL DEFAULT 0,
    status      text NOT NULL,
    result      text,
    updated_at  timestamptz NOT NULL
);
