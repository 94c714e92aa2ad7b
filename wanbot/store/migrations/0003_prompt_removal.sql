-- When a job's prompt was removed (a member asked to be forgotten, or it grew old). Portable SQL.

ALTER TABLE jobs ADD COLUMN prompt_removed_at DOUBLE PRECISION;
