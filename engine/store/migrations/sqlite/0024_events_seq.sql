-- Events get an integer key, `seq` (the rowid, made explicit so that VACUUM
-- cannot renumber it), and the three list indexes drop the 36-character
-- event id they each repeated: an index of a rowid table already ends with
-- the rowid, so `(…, received_at)` orders by `(received_at, seq)` without a
-- sort. The list is paged by `(received_at, seq)`; the cursor a client holds
-- is still the event id (resolved to its row).
--
-- Existing events are numbered in `(received_at, event_id)` order, the
-- order they were listed in before: a cursor issued before this migration
-- goes on with the same next page.
CREATE TABLE events_new (
    seq            INTEGER PRIMARY KEY,
    event_id       TEXT NOT NULL UNIQUE,
    workflow_id    TEXT NOT NULL,
    trigger        TEXT NOT NULL,
    received_at    INTEGER NOT NULL,
    payload        TEXT NOT NULL,
    dedupe_key     TEXT,
    status         TEXT NOT NULL,            -- queued | ignored | duplicate | invalid
    raw_body       BLOB,
    reason         TEXT,
    run_id         TEXT,
    body_from_raw  INTEGER NOT NULL DEFAULT 0,
    raw_packed     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO events_new (seq, event_id, workflow_id, trigger, received_at, payload, dedupe_key, status, raw_body,
                        reason, run_id, body_from_raw, raw_packed)
SELECT row_number() OVER (ORDER BY received_at, event_id), event_id, workflow_id, trigger, received_at, payload,
       dedupe_key, status, raw_body, reason, run_id, body_from_raw, raw_packed
FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_received ON events (received_at);
CREATE INDEX events_workflow_received ON events (workflow_id, received_at);
CREATE INDEX events_status_received ON events (status, received_at);
