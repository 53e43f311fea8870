-- v2: crash recovery for open rollup buckets, and event lookups by kind.
-- rollup_dirty = 1 while a device's open (current) 1-minute / 1-hour buckets hold samples that are in
-- `samples` but not yet in the rollup tables (open buckets are flushed every second or so, not per batch).
-- It is set in the same transaction as the samples, so after a crash the open buckets of exactly these
-- devices are rebuilt from raw samples on open.
ALTER TABLE devices ADD COLUMN rollup_dirty INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_kind ON events (kind, id);
