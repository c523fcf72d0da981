-- What was said on a call (the caller's utterances turned into text and
-- the server's own lines) and the DTMF keys the caller pressed.
CREATE TABLE transcript_lines (
    id         TEXT PRIMARY KEY,
    call_id    TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    content    TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at   TEXT NOT NULL
);
CREATE INDEX transcript_lines_call ON transcript_lines (call_id, id);

CREATE TABLE digits (
    id      TEXT PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    digit   TEXT NOT NULL,
    source  TEXT NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX digits_call ON digits (call_id, id);
