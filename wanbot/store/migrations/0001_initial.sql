-- Jobs, the credit ledger and small key/value state. Portable SQL: no SQLite-only types or
-- functions, so a PostgreSQL store can apply the same files (rewritten by `for_dialect`).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE jobs (
    id                     TEXT PRIMARY KEY,
    seq                    INTEGER NOT NULL UNIQUE,
    kind                   TEXT NOT NULL,            -- imagine, edit
    state                  TEXT NOT NULL,            -- queued, submitting, running, delivering, done, failed, cancelled
    guild_id               BIGINT NOT NULL,
    channel_id             BIGINT NOT NULL,
    user_id                BIGINT NOT NULL,
    application_id         BIGINT NOT NULL,
    interaction_token      TEXT NOT NULL,
    token_expires_at       DOUBLE PRECISION NOT NULL,
    placeholder_message_id BIGINT,
    request_json           TEXT NOT NULL,
    provider               TEXT NOT NULL,
    provider_job_id        TEXT,
    provider_cost          DOUBLE PRECISION,
    image_cost             INTEGER NOT NULL,
    images_requested       INTEGER NOT NULL,
    size                   TEXT NOT NULL,
    images_delivered       INTEGER,
    result_urls_json       TEXT,
    message_ids_json       TEXT,
    error                  TEXT,
    private                BOOLEAN NOT NULL DEFAULT FALSE,
    parent_job_id          TEXT,
    created_at             DOUBLE PRECISION NOT NULL,
    updated_at             DOUBLE PRECISION NOT NULL,
    submitted_at           DOUBLE PRECISION,
    finished_at            DOUBLE PRECISION,
    deadline_at            DOUBLE PRECISION NOT NULL,
    upload_limit           BIGINT NOT NULL
);

CREATE INDEX jobs_state ON jobs (state, seq);
CREATE INDEX jobs_user ON jobs (guild_id, user_id, created_at);
CREATE INDEX jobs_stats ON jobs (provider, state, finished_at);

-- The queue order on PostgreSQL, so concurrent admissions never contend on MAX(seq).
-- postgresql: CREATE SEQUENCE jobs_seq AS INTEGER;

-- Append-only. `available` is the entry's effect on the member's spendable balance, `held` its
-- effect on credits set aside for a running job. A balance is a sum; nothing is ever updated.
CREATE TABLE ledger (
    id         INTEGER PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    kind       TEXT NOT NULL,              -- refill, grant, revoke, hold, capture, release
    available  INTEGER NOT NULL,
    held       INTEGER NOT NULL,
    job_id     TEXT REFERENCES jobs (id),
    period_key TEXT,                       -- refills: the period they belong to
    actor_id   BIGINT,                     -- grants and revokes: who did it
    reason     TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    UNIQUE (job_id, kind),
    UNIQUE (guild_id, user_id, kind, period_key)
);

CREATE INDEX ledger_member ON ledger (guild_id, user_id, id);
CREATE INDEX ledger_day ON ledger (kind, created_at);
