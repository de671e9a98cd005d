-- Which runs hold a reference to each blob, so erasure and retention can
-- delete a blob once no run refers to it (a person's PDF report goes with
-- their runs). Written in the same writer job as the blob and the row that
-- refers to it.
CREATE TABLE blob_refs (
    sha256  TEXT NOT NULL,
    run_id  TEXT NOT NULL,
    PRIMARY KEY (sha256, run_id)
);
CREATE INDEX blob_refs_run ON blob_refs (run_id);

-- Backfill: the references already in attempt inputs/outputs and step
-- results (a binary value stored without its bytes: an object with
-- "$binary" and "sha256").
INSERT OR IGNORE INTO blob_refs (sha256, run_id)
SELECT DISTINCT j.value, a.run_id
FROM attempts AS a, json_tree(a.input) AS j
WHERE a.input LIKE '%"$binary"%' AND j.key = 'sha256' AND j.type = 'text'
  AND j.value IN (SELECT sha256 FROM blobs);
INSERT OR IGNORE INTO blob_refs (sha256, run_id)
SELECT DISTINCT j.value, a.run_id
FROM attempts AS a, json_tree(a.output) AS j
WHERE a.output LIKE '%"$binary"%' AND j.key = 'sha256' AND j.type = 'text'
  AND j.value IN (SELECT sha256 FROM blobs);
INSERT OR IGNORE INTO blob_refs (sha256, run_id)
SELECT DISTINCT j.value, s.run_id
FROM step_results AS s, json_tree(s.output) AS j
WHERE s.output LIKE '%"$binary"%' AND j.key = 'sha256' AND j.type = 'text'
  AND j.value IN (SELECT sha256 FROM blobs);
