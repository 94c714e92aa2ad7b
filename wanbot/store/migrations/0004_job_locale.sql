-- The Discord locale of the command that started a job ("zh-CN", "en-US"), so messages
-- delivered later (a channel post after the token expired, a failure after a restart) are
-- written in the member's language. NULL for jobs made before it was kept: English. Portable SQL.

ALTER TABLE jobs ADD COLUMN locale TEXT;
