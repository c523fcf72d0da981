-- Tool calls an MCP client ran as tasks: a task outlives its request, its
-- session and the process, so a client can still read it after a restart
-- (the transfer it works on, or its stored result, answers for it).
CREATE TABLE tasks (
  id          TEXT PRIMARY KEY,
  owner       TEXT NOT NULL,
  tool        TEXT NOT NULL,
  call_id     TEXT NOT NULL DEFAULT '',
  transfer_id TEXT NOT NULL DEFAULT '',
  created_at  TEXT NOT NULL,
  ttl_ms      INTEGER NOT NULL DEFAULT 0,
  status      TEXT NOT NULL,
  result      TEXT,
  updated_at  TEXT NOT NULL
);
