-- A step's result no longer repeats its last attempt's output: where the
-- result's output is (as stored text) the output of one of the step's
-- attempts, `output` is NULL and `attempt_id` names that attempt, whose
-- output reads back in its place. Results that are no attempt's output (a
-- `for_each` step's list, a failed or skipped step's) keep their own.
-- Attempts are deleted only with their run (erasure, retention), so the
-- attempt a result names is there as long as the result is.
ALTER TABLE step_results ADD COLUMN attempt_id BIGINT;
UPDATE step_results AS s SET attempt_id = m.id, output = NULL
FROM (
    SELECT s2.run_id, s2.step_id, max(a.id) AS id
    FROM step_results AS s2 JOIN attempts AS a
      ON a.run_id = s2.run_id AND a.step_id = s2.step_id AND a.output::text = s2.output::text
    GROUP BY s2.run_id, s2.step_id
) AS m
WHERE m.run_id = s.run_id AND m.step_id = s.step_id;
