-- Candidate data under control: each event's body stored once, and the
-- subjects index (who each event is about, as keyed hashes).
--
-- `body_from_raw` = 1: the payload's `body` is left out of `payload`; it is
-- the JSON of `raw_body`, parsed again on read. Webhook events stored
-- before this migration are moved to that form when their stored body is
-- textually the (minified) JSON of their raw bytes; the others keep their
-- whole payload (0).
ALTER TABLE events ADD COLUMN body_from_raw INTEGER NOT NULL DEFAULT 0;
UPDATE events SET payload = json_remove(payload, '$.body'), body_from_raw = 1
WHERE trigger = 'webhook' AND raw_body IS NOT NULL AND json_valid(CAST(raw_body AS TEXT))
  AND json_type(payload, '$.body') IN ('object', 'array')
  AND json(payload -> '$.body') = json(CAST(raw_body AS TEXT));

-- The subjects of each event (the workflow's `subject:` values), as
-- HMAC-SHA256 hex of the normalised value: the index holds no personal data
-- in clear. `run_id`: the run the event started, if any.
CREATE TABLE subjects (
    hash         TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    run_id       TEXT,
    workflow_id  TEXT NOT NULL,
    PRIMARY KEY (hash, event_id)
) WITHOUT ROWID;
CREATE INDEX subjects_event ON subjects (event_id);


-- Runs deleted by retention or erasure, by final status, so that the run
-- counts `/metrics` shows (`reqflow_runs`) keep counting them.
CREATE TABLE run_tallies (
    status   TEXT PRIMARY KEY,
    deleted  BIGINT NOT NULL
);
