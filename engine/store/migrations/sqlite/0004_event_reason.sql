-- Why an `invalid` event (status) could not be evaluated: its `when:` or
-- `dedupe:` failed. Such an event is kept and starts no run.
ALTER TABLE events ADD COLUMN reason TEXT;
