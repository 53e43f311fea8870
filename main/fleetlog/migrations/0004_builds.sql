-- v4: builds of signed model artifacts (what the Models/Builds view lists). One row per build attempt;
-- created_at is the build's start (ms UTC). summary_json is free-form JSON (sizes, node counts, agreement,
-- compatibility verdict); error_text says why a failed or cancelled build stopped.
CREATE TABLE builds (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  target TEXT NOT NULL,
  precision TEXT NOT NULL,
  mode TEXT,
  status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed', 'cancelled')),
  created_at INTEGER NOT NULL,
  duration_ms INTEGER,
  source_sha256 TEXT,
  source_name TEXT,
  artifact_dir TEXT,
  manifest_sha256 TEXT,
  key_id TEXT,
  summary_json TEXT NOT NULL DEFAULT '{}',
  error_text TEXT
);
-- Semantic versions are immutable: one succeeded build per name + version + target + precision (failed and
-- cancelled attempts do not count). recordBuild checks first for a clear message; this is the backstop.
CREATE UNIQUE INDEX builds_release ON builds (name, version, target, precision) WHERE status = 'succeeded';
CREATE INDEX builds_created ON builds (created_at);
CREATE INDEX builds_name_created ON builds (name, created_at);
