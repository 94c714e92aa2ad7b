-- Team wallets: a budget a server gives a role, shared by every member with that role. Portable SQL.

-- A deleted wallet stays (its ledger refers to it); only live wallets pay and hold a name.
CREATE TABLE wallets (
    id         TEXT PRIMARY KEY,                -- chosen by the bot (uuid hex)
    guild_id   BIGINT NOT NULL,
    name       TEXT NOT NULL,                   -- as the admin wrote it
    name_key   TEXT NOT NULL,                   -- casefolded: names are unique in any case
    role_id    BIGINT NOT NULL,                 -- members with this role spend from it
    allowance  INTEGER NOT NULL,                -- a refill tops the balance up to this
    period     TEXT NOT NULL,                   -- daily, weekly, monthly, never
    actor_id   BIGINT,                          -- who created it
    created_at DOUBLE PRECISION NOT NULL,
    deleted_at DOUBLE PRECISION,
    -- The sums of its wallet_ledger entries (available, held), moved in the same transaction
    -- as each entry is appended: a busy wallet's history is long, its balance read every job.
    balance    INTEGER NOT NULL DEFAULT 0,
    held       INTEGER NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX wallets_live_name ON wallets (guild_id, name_key) WHERE deleted_at IS NULL;
CREATE INDEX wallets_role ON wallets (guild_id, role_id);

-- Append-only, like `ledger`: `available` is the entry's effect on the wallet's spendable balance,
-- `held` its effect on credits set aside for a job. A job is paid by a wallet or by its member,
-- never both: `jobs.wallet_id` says which ledger holds its hold, capture and release.
CREATE TABLE wallet_ledger (
    id         INTEGER PRIMARY KEY,
    wallet_id  TEXT NOT NULL REFERENCES wallets (id),
    guild_id   BIGINT NOT NULL,
    user_id    BIGINT,                          -- holds, captures, releases: whose job it is
    kind       TEXT NOT NULL,                   -- refill, grant, hold, capture, release
    available  INTEGER NOT NULL,
    held       INTEGER NOT NULL,
    job_id     TEXT REFERENCES jobs (id),
    period_key TEXT,                            -- refills: the period they belong to
    actor_id   BIGINT,                          -- grants: who did it
    reason     TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    UNIQUE (job_id, kind),
    UNIQUE (wallet_id, kind, period_key)
);

CREATE INDEX wallet_ledger_wallet ON wallet_ledger (wallet_id, id);
CREATE INDEX wallet_ledger_day ON wallet_ledger (kind, created_at);

-- The wallet that pays for the job; NULL: the member pays.
ALTER TABLE jobs ADD COLUMN wallet_id TEXT REFERENCES wallets (id);
