-- Runs name their workflow's content hash by an integer reference to
-- `workflow_hashes` instead of repeating the 64-character hex in each row.
-- A separate table rather than `workflows`: a run's hash is recorded even
-- where no source was stored under it, and these rows hold no one's data
-- (they are never purged: one per workflow version).
CREATE TABLE workflow_hashes (
    id    INTEGER PRIMARY KEY,
    hash  TEXT NOT NULL UNIQUE
);
INSERT INTO workflow_hashes (hash) SELECT DISTINCT workflow_hash FROM runs ORDER BY workflow_hash;
ALTER TABLE runs ADD COLUMN workflow_hash_id INTEGER NOT NULL DEFAULT 0;   -- workflow_hashes.id
UPDATE runs SET workflow_hash_id = (SELECT h.id FROM workflow_hashes AS h WHERE h.hash = runs.workflow_hash);
ALTER TABLE runs DROP COLUMN workflow_hash;
