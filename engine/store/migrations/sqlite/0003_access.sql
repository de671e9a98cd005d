-- The admin plane: API tokens (only their SHA-256 is kept) and the audit
-- trail of state-changing calls.
CREATE TABLE api_tokens (
    token_hash   TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL,            -- read | operate | admin
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
) WITHOUT ROWID;
-- One token of a name at a time (revoked ones are kept for the record).
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,               -- token:NAME | cli
    action    TEXT NOT NULL,
    objects   TEXT NOT NULL,               -- JSON array of ids
    outcome   TEXT NOT NULL,               -- ok | denied | failed
    detail    TEXT NOT NULL                -- JSON
);
CREATE INDEX audit_at ON audit (at);
