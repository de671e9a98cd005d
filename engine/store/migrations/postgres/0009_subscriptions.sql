-- Vendor subscriptions the engine manages (`subscribe:` on webhook
-- triggers; `serve --public-url`, `reqflow subscriptions sync`): the ones
-- it created (or adopted after a 409), so that it removes only its own and
-- renews them before `valid_until` (Unix ms; NULL: does not expire).
CREATE TABLE subscriptions (
    provider     TEXT NOT NULL,
    account      TEXT NOT NULL,
    target       TEXT NOT NULL,
    event        TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    connection   TEXT NOT NULL,
    remote_id    TEXT NOT NULL,
    args         TEXT NOT NULL,
    valid_until  BIGINT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (provider, account, target)
);
