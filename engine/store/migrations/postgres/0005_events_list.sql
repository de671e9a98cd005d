-- Events are listed (`GET /api/events`, `reqflow events list`): newest first,
-- by workflow or outcome, paged by (received_at, event_id).
--
-- `run_id`: the run an accepted (`queued`) event started, or the run a
-- `duplicate` event duplicates. Filled for accepted events stored before
-- this migration from `runs`; older duplicates keep NULL (which run they
-- duplicated was not recorded).
ALTER TABLE events ADD COLUMN run_id TEXT;
UPDATE events SET run_id = r.run_id FROM runs AS r WHERE r.event_id = events.event_id AND events.status = 'queued';
CREATE INDEX events_received ON events (received_at, event_id);
CREATE INDEX events_workflow_received ON events (workflow_id, received_at, event_id);
CREATE INDEX events_status_received ON events (status, received_at, event_id);
