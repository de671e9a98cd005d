-- Attempt inputs and outputs and step results may now be packed with
-- dictionary 2: dictionary 1 followed by the start of the run's own event
-- body as received (`events.raw_body`), so the candidate fields each step
-- repeats from the webhook are not stored again (engine/store/src/packed.rs).
-- No table changes: a packed value names its dictionary in its second byte,
-- and rows stored before keep reading back as they are. This migration is
-- recorded so that an older reqflow, which cannot read such values, refuses
-- the database instead of failing on them run by run.
SELECT 1 WHERE 0;
