-- Transfer modes and fallback destinations (issue 8b): the mode of the
-- current attempt, the summary told to the destination, which attempt is
-- current (1-based) and every attempt with its outcome (a JSON array of
-- core.TransferAttempt). Transfers made before this have NULLs: one blind
-- attempt, as their other columns describe.
ALTER TABLE transfers ADD COLUMN mode TEXT;
ALTER TABLE transfers ADD COLUMN summary TEXT;
ALTER TABLE transfers ADD COLUMN attempt INTEGER;
ALTER TABLE transfers ADD COLUMN attempts TEXT;
