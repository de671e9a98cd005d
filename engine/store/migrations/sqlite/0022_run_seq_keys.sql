-- Attempts and step results name their run by its integer key (`runs.seq`,
-- a few bytes) instead of its 36-character id, in the row and in the index
-- that finds a run's attempts. Existing rows are converted (a row whose run
-- is gone is dropped: nothing could read it).
CREATE TABLE attempts_new (
    id           INTEGER PRIMARY KEY,
    run_seq      INTEGER NOT NULL,         -- runs.seq
    step_id      TEXT NOT NULL,
    item         INTEGER,
    attempt      INTEGER NOT NULL,
    round        INTEGER NOT NULL,
    status       TEXT NOT NULL,            -- running | succeeded | failed
    input        TEXT NOT NULL,
    output       TEXT,
    error        TEXT,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
INSERT INTO attempts_new (id, run_seq, step_id, item, attempt, round, status, input, output, error, started_at, finished_at)
SELECT a.id, r.seq, a.step_id, a.item, a.attempt, a.round, a.status, a.input, a.output, a.error, a.started_at, a.finished_at
FROM attempts AS a JOIN runs AS r ON r.run_id = a.run_id;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;
CREATE INDEX attempts_run ON attempts (run_seq, id);

CREATE TABLE step_results_new (
    run_seq      INTEGER NOT NULL,         -- runs.seq
    step_id      TEXT NOT NULL,
    status       TEXT NOT NULL,            -- succeeded | failed | skipped
    output       TEXT,                     -- NULL when attempt_id names the attempt that holds it
    attempt_id   INTEGER,
    error        TEXT,
    finished_at  INTEGER NOT NULL,
    PRIMARY KEY (run_seq, step_id)
) WITHOUT ROWID;
INSERT INTO step_results_new (run_seq, step_id, status, output, attempt_id, error, finished_at)
SELECT r.seq, s.step_id, s.status, s.output, s.attempt_id, s.error, s.finished_at
FROM step_results AS s JOIN runs AS r ON r.run_id = s.run_id;
DROP TABLE step_results;
ALTER TABLE step_results_new RENAME TO step_results;
