-- Member defaults, server settings and moderation: channel rules, blocklist, bans.
-- Portable SQL, like 0001.

-- One row per member and server; `prefs_json` holds only the options the member set.
CREATE TABLE member_preferences (
    guild_id   BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    prefs_json TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE guild_settings (
    guild_id         BIGINT PRIMARY KEY,
    audit_channel_id BIGINT,                          -- where every job is logged, NULL: nowhere
    nsfw_policy      TEXT NOT NULL DEFAULT 'filter',  -- in age-restricted channels: allow, filter
    updated_at       DOUBLE PRECISION NOT NULL
);

-- With any 'allow' row, only allowed channels may generate; 'deny' rows are always refused.
CREATE TABLE channel_rules (
    guild_id   BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    rule       TEXT NOT NULL,                         -- allow, deny
    actor_id   BIGINT,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

CREATE TABLE blocklist (
    id         INTEGER PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    pattern    TEXT NOT NULL,
    is_regex   BOOLEAN NOT NULL,
    actor_id   BIGINT,
    created_at DOUBLE PRECISION NOT NULL,
    UNIQUE (guild_id, pattern, is_regex)
);

CREATE TABLE member_bans (
    guild_id   BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    reason     TEXT,
    actor_id   BIGINT,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
