-- A `read` or `operate` token may be issued with subject access: it may then
-- export everything held about one person (`GET /api/subjects/{value}`).
ALTER TABLE api_tokens ADD COLUMN subject_access INTEGER NOT NULL DEFAULT 0;
