-- The admin plane: API tokens (only their SHA-256 is kept) and the audit
-- trail of state-changing calls.
CREATE TABLE api_tokens (
    token_hash   TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL,            -- read | operate | admin
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT
);
-- One token of a name at a time (revoked ones are kept for the record).
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE audit (
    id        BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,               -- token:NAME | cli
    action    TEXT NOT NULL,
    objects   JSONB NOT NULL,              -- array of ids
    outcome   TEXT NOT NULL,               -- ok | denied | failed
    detail    JSONB NOT NULL
);
CREATE INDEX audit_at ON audit (at);
