-- Candidate data under control: each event's body stored once, and the
-- subjects index (who each event is about, as keyed hashes).
--
-- `body_from_raw`: the payload's `body` is left out of `payload`; it is the
-- JSON of `raw_body`, parsed again on read. Webhook events stored before
-- this migration are moved to that form when their body equals their raw
-- bytes as JSON (key order of the rest kept); the others keep their whole
-- payload.
ALTER TABLE events ADD COLUMN body_from_raw BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE events SET
    payload = COALESCE(
        (SELECT json_object_agg(t.key, t.value ORDER BY t.n)
         FROM json_each(events.payload) WITH ORDINALITY AS t(key, value, n) WHERE t.key <> 'body'),
        '{}'::json),
    body_from_raw = TRUE
WHERE trigger = 'webhook' AND raw_body IS NOT NULL
  AND json_typeof(payload -> 'body') IN ('object', 'array')
  AND (payload -> 'body')::jsonb = convert_from(raw_body, 'UTF8')::jsonb;

-- The subjects of each event (the workflow's `subject:` values), as
-- HMAC-SHA256 hex of the normalised value: the index holds no personal data
-- in clear. `run_id`: the run the event started, if any.
CREATE TABLE subjects (
    hash         TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    run_id       TEXT,
    workflow_id  TEXT NOT NULL,
    PRIMARY KEY (hash, event_id)
);
CREATE INDEX subjects_event ON subjects (event_id);


-- Runs deleted by retention or erasure, by final status, so that the run
-- counts `/metrics` shows (`reqflow_runs`) keep counting them.
CREATE TABLE run_tallies (
    status   TEXT PRIMARY KEY,
    deleted  BIGINT NOT NULL
);
