-- The Builder API: workflows deployed over HTTP (`PUT /api/workflows/{id}`)
-- and the listing of a workflow's versions.
--
-- `stored_at`: when a version was first stored (Unix ms; NULL for versions
-- stored before this migration). `seq`: the order versions were stored in
-- (existing rows are numbered in no particular order).
ALTER TABLE workflows ADD COLUMN stored_at BIGINT;
ALTER TABLE workflows ADD COLUMN seq BIGSERIAL;
CREATE INDEX workflows_seq ON workflows (workflow_id, seq);

-- Which workflows were deployed over the admin API, and the version each
-- serves (its source is in `workflows`): `serve` loads them at start beside
-- its --workflows directory.
CREATE TABLE api_deployments (
    workflow_id  TEXT PRIMARY KEY,
    hash         TEXT NOT NULL,
    deployed_at  BIGINT NOT NULL,
    actor        TEXT NOT NULL
);
