-- The body of each accepted event exactly as received (webhook: the HTTP
-- body; SOAP: the envelope bytes); NULL for schedule and manual events.
ALTER TABLE events ADD COLUMN raw_body BYTEA;
