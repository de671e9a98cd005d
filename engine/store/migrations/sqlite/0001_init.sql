-- reqflow store, SQLite: initial schema.
-- Times are Unix milliseconds (UTC). JSON values are stored as text.

-- Every accepted event (also ignored and duplicate ones).
CREATE TABLE events (
    event_id     TEXT PRIMARY KEY,
    workflow_id  TEXT NOT NULL,
    trigger      TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    payload      TEXT NOT NULL,
    dedupe_key   TEXT,
    status       TEXT NOT NULL            -- queued | ignored | duplicate
);

-- Dedupe keys, per workflow, until they expire.
CREATE TABLE dedupe (
    workflow_id  TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    run_id       TEXT,                    -- NULL when the first event was ignored
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, dedupe_key)
) WITHOUT ROWID;
CREATE INDEX dedupe_expires ON dedupe (expires_at);

-- Every run, for history. `seq` orders runs newest first (keyset paging).
CREATE TABLE runs (
    seq               INTEGER PRIMARY KEY,
    run_id            TEXT NOT NULL UNIQUE,
    event_id          TEXT NOT NULL,
    workflow_id       TEXT NOT NULL,
    workflow_version  INTEGER NOT NULL,
    workflow_hash     TEXT NOT NULL,
    status            TEXT NOT NULL,       -- queued | running | succeeded | failed
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    error             TEXT,
    retries           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_workflow ON runs (workflow_id, seq);
CREATE INDEX runs_status ON runs (status, seq);

-- The hot work queue: only queued and running runs (finish deletes the row).
-- `due_at` is when the row can next be claimed: `available_at` while queued
-- (lease_owner NULL), the end of the lease while running, so one narrow index
-- serves both new work and expired leases.
CREATE TABLE queue (
    run_id       TEXT PRIMARY KEY,
    due_at       INTEGER NOT NULL,
    lease_owner  TEXT
) WITHOUT ROWID;
CREATE INDEX queue_due ON queue (due_at);
CREATE INDEX queue_leased ON queue (lease_owner) WHERE lease_owner IS NOT NULL;

-- Every attempt of every step.
CREATE TABLE attempts (
    id           INTEGER PRIMARY KEY,
    run_id       TEXT NOT NULL,
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
CREATE INDEX attempts_run ON attempts (run_id, id);

-- The final result of each step, recorded at most once.
CREATE TABLE step_results (
    run_id       TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    status       TEXT NOT NULL,            -- succeeded | failed | skipped
    output       TEXT,
    error        TEXT,
    finished_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_id)
);

-- Schedule slots claimed (each at most once, ever).
CREATE TABLE schedule_slots (
    workflow_id  TEXT NOT NULL,
    slot         INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, slot)
) WITHOUT ROWID;

-- When each workflow's last successful scheduled run was scheduled.
CREATE TABLE schedule_success (
    workflow_id      TEXT PRIMARY KEY,
    last_success_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Workflow sources by content hash.
CREATE TABLE workflows (
    workflow_id  TEXT NOT NULL,
    hash         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    source       TEXT NOT NULL,
    PRIMARY KEY (workflow_id, hash)
);

-- Durable key-value state shared by processes (connection tokens).
CREATE TABLE shared_state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
