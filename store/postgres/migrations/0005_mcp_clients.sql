-- What the nodes keep of their MCP clients.

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

-- The HTTP rate limit's token bucket of each API key, shared by the
-- nodes (VOICEDOCK_RATE_LIMIT_PER_MINUTE is the key's, whichever node it
-- calls): the tokens left at "at", and whether the last request took one.
-- A bucket idle for a window is full again, as a missing one is.
CREATE TABLE rate_limits (
    client text PRIMARY KEY,
    tokens double precision NOT NULL,
    at     timestamptz NOT NULL,
    taken  boolean NOT NULL
);
