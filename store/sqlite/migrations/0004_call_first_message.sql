-- What the assistant says when it answers the call: the assistant's
-- first_message, or the override an assistant-request reply gave.
ALTER TABLE calls ADD COLUMN first_message TEXT;
