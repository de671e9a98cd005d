-- The Builder API: workflows deployed over HTTP (`PUT /api/workflows/{id}`)
-- and the listing of a workflow's versions.
--
-- `stored_at`: when a version was first stored (Unix ms; NULL for versions
-- stored before this migration). Versions are listed in the order they were
-- stored (rowid).
ALTER TABLE workflows ADD COLUMN stored_at INTEGER;

-- Which workflows were deployed over the admin API, and the version each
-- serves (its source is in `workflows`): `serve` loads them at start beside
-- its --workflows directory.
CREATE TABLE api_deployments (
    workflow_id  TEXT PRIMARY KEY,
    hash         TEXT NOT NULL,
    deployed_at  INTEGER NOT NULL,
    actor        TEXT NOT NULL
);
