-- The request log (RequestLog). Portable SQL: the same file migrates SQLite and PostgreSQL.
-- Times are epoch milliseconds (UTC): one BIGINT compares and sorts the same everywhere.

CREATE TABLE requests (
    id                TEXT             NOT NULL PRIMARY KEY,
    created_at        BIGINT           NOT NULL,
    tenant            TEXT,
    model             TEXT             NOT NULL,
    target            TEXT             NOT NULL,
    experiment        TEXT,
    variant           TEXT,
    user_id           TEXT,
    prompt            TEXT             NOT NULL,
    response          TEXT             NOT NULL,
    latency_ms        DOUBLE PRECISION NOT NULL,
    ttft_ms           DOUBLE PRECISION,
    prompt_tokens     INTEGER          NOT NULL,
    completion_tokens INTEGER          NOT NULL,
    status            TEXT             NOT NULL
);

CREATE INDEX requests_by_experiment ON requests (experiment, variant);
CREATE INDEX requests_by_time ON requests (created_at);

-- One score per response: a later score for the same response replaces the earlier one.
CREATE TABLE feedback (
    response_id TEXT             NOT NULL PRIMARY KEY REFERENCES requests (id),
    score       DOUBLE PRECISION NOT NULL,
    created_at  BIGINT           NOT NULL
);
