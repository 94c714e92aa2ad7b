-- Leases: which process works on an unfinished job, and until when. A process renews its leases
-- while it works; a job whose lease ran out is claimed by another. And when each job left the
-- queue, so every process can tell whose turn it is. Portable SQL.

ALTER TABLE jobs ADD COLUMN worker_id TEXT;
ALTER TABLE jobs ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN started_at DOUBLE PRECISION;

CREATE INDEX jobs_worker ON jobs (worker_id);
