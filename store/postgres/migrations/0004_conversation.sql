-- What was said on a call and the DTMF keys the caller pressed.
CREATE TABLE transcript_lines (
    id         text PRIMARY KEY,
    call_id    text NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    role       text NOT NULL,
    content    text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz NOT NULL
);
CREATE INDEX transcript_lines_call ON transcript_lines (call_id, id);

CREATE TABLE digits (
    id      text PRIMARY KEY,
    call_id text NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    digit   text NOT NULL,
    source  text NOT NULL,
    at      timestamptz NOT NULL
);
CREATE INDEX digits_call ON digits (call_id, id);
