-- Leases: which process works on an unfinished job, and until when. A process renews its leases
-- while it works; a job whose lease ran out is claimed by another. Portable SQL.

ALTER TABLE jobs ADD COLUMN worker_id TEXT;
ALTER TABLE jobs ADD COLUMN lease_until DOUBLE PRECISION;

CREATE INDEX jobs_worker ON jobs (worker_id);
