-- Which runs hold a reference to each blob, so erasure and retention can
-- delete a blob once no run refers to it (a person's PDF report goes with
-- their runs). Written in the same transaction as the blob and the row that
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
INSERT INTO blob_refs (sha256, run_id)
SELECT DISTINCT x.sha, x.run_id FROM (
    SELECT a.run_id, jsonb_path_query(a.input::jsonb, 'strict $.**.sha256') #>> '{}' AS sha
    FROM attempts AS a WHERE a.input::text LIKE '%"$binary"%'
    UNION ALL
    SELECT a.run_id, jsonb_path_query(a.output::jsonb, 'strict $.**.sha256') #>> '{}'
    FROM attempts AS a WHERE a.output::text LIKE '%"$binary"%'
    UNION ALL
    SELECT s.run_id, jsonb_path_query(s.output::jsonb, 'strict $.**.sha256') #>> '{}'
    FROM step_results AS s WHERE s.output::text LIKE '%"$binary"%'
) AS x
WHERE x.sha IN (SELECT sha256 FROM blobs)
ON CONFLICT DO NOTHING;
