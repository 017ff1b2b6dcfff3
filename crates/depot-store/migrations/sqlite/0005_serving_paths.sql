-- The content app finds a file of a repository version by its relative path: index it, so a
-- path not yet in memory costs one indexed lookup instead of a scan of the version.
CREATE INDEX content_artifacts_relative_path ON content_artifacts (relative_path);
