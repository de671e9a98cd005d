-- A step's result no longer repeats its last attempt's output: where the
-- result's output is (as stored text) the output of one of the step's
-- attempts, `output` is NULL and `attempt_id` names that attempt, whose
-- output reads back in its place. Results that are no attempt's output (a
-- `for_each` step's list, a failed or skipped step's) keep their own.
-- Attempts are deleted only with their run (erasure, retention), so the
-- attempt a result names is there as long as the result is.
--
-- The table is rebuilt WITHOUT ROWID: the primary key (run_id, step_id) is
-- the table, with no second copy of it in an index.
CREATE TABLE step_results_new (
    run_id       TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    status       TEXT NOT NULL,            -- succeeded | failed | skipped
    output       TEXT,                     -- NULL when attempt_id names the attempt that holds it
    attempt_id   INTEGER,
    error        TEXT,
    finished_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
INSERT INTO step_results_new (run_id, step_id, status, output, attempt_id, error, finished_at)
SELECT s.run_id, s.step_id, s.status, CASE WHEN a.id IS NULL THEN s.output END, a.id, s.error, s.finished_at
FROM step_results AS s LEFT JOIN attempts AS a ON a.id = (
    SELECT max(x.id) FROM attempts AS x
    WHERE x.run_id = s.run_id AND x.step_id = s.step_id AND x.output = s.output);
DROP TABLE step_results;
ALTER TABLE step_results_new RENAME TO step_results;
