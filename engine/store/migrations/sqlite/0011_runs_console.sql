-- The console lists runs filtered by workflow AND status (newest first, keyset
-- paging by seq) and counts a workflow's runs by status over the last day.
-- With only (workflow_id, seq) and (status, seq), a rare status in a large
-- workflow scans the whole workflow; these answer both from an index.
CREATE INDEX runs_workflow_status ON runs (workflow_id, status, seq);
CREATE INDEX runs_workflow_created ON runs (workflow_id, created_at, status);
