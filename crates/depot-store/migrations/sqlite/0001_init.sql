-- depot schema, version 1.
--
-- Timestamps are TEXT in Pulp's rendering ("2026-11-25T16:35:35.820060Z"): fixed width, so
-- they sort and compare correctly as strings. Ids are UUIDv7 strings except users/groups,
-- which Pulp numbers. Plugin-specific fields live in `extra` JSON columns, described by the
-- content type's field specs; the columns here are the ones every plugin shares.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    is_superuser INTEGER NOT NULL DEFAULT 0,
    is_staff INTEGER NOT NULL DEFAULT 0,
    is_active INTEGER NOT NULL DEFAULT 1,
    date_joined TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);

CREATE TABLE artifacts (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    md5 TEXT,
    sha1 TEXT,
    sha224 TEXT,
    sha384 TEXT,
    sha512 TEXT,
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);

CREATE TABLE remotes (
    id TEXT PRIMARY KEY,
    pulp_type TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    policy TEXT NOT NULL,
    pulp_labels TEXT NOT NULL DEFAULT '{}',
    -- optional core settings (timeouts, tls, proxy, headers, ...) as rendered
    settings TEXT NOT NULL DEFAULT '{}',
    -- write-only values: username, password, proxy_username, proxy_password, client_key
    secrets TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);

CREATE TABLE repositories (
    id TEXT PRIMARY KEY,
    pulp_type TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    retain_repo_versions INTEGER,
    retain_checkpoints INTEGER,
    remote_id TEXT REFERENCES remotes(id) ON DELETE SET NULL,
    pulp_labels TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    next_version INTEGER NOT NULL DEFAULT 1,
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);

CREATE TABLE repository_versions (
    id TEXT PRIMARY KEY,
    repository_id TEXT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    base_version_id TEXT REFERENCES repository_versions(id) ON DELETE SET NULL,
    complete INTEGER NOT NULL DEFAULT 0,
    -- {"added": {type: n}, "removed": {...}, "present": {...}}, fixed once complete
    content_summary TEXT NOT NULL DEFAULT '{}',
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL,
    UNIQUE (repository_id, number)
);

CREATE TABLE content (
    id TEXT PRIMARY KEY,
    pulp_type TEXT NOT NULL,
    -- the content type's identity of a unit, e.g. "<relative_path>\n<sha256>" for file.file
    natural_key TEXT NOT NULL,
    data TEXT NOT NULL,
    pulp_labels TEXT NOT NULL DEFAULT '{}',
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL,
    UNIQUE (pulp_type, natural_key)
);

CREATE TABLE content_artifacts (
    id TEXT PRIMARY KEY,
    content_id TEXT NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    relative_path TEXT NOT NULL,
    -- NULL until the bytes are downloaded (on_demand / streamed content)
    artifact_id TEXT REFERENCES artifacts(id) ON DELETE RESTRICT,
    UNIQUE (content_id, relative_path)
);
CREATE INDEX content_artifacts_artifact ON content_artifacts (artifact_id);

CREATE TABLE remote_artifacts (
    id TEXT PRIMARY KEY,
    content_artifact_id TEXT NOT NULL REFERENCES content_artifacts(id) ON DELETE CASCADE,
    remote_id TEXT NOT NULL REFERENCES remotes(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    size INTEGER,
    md5 TEXT,
    sha1 TEXT,
    sha224 TEXT,
    sha256 TEXT,
    sha384 TEXT,
    sha512 TEXT,
    failed_at TEXT,
    UNIQUE (content_artifact_id, remote_id)
);
CREATE INDEX remote_artifacts_remote ON remote_artifacts (remote_id);

-- Membership of content in repository versions as ranges: a unit is in version n when
-- version_added <= n and (version_removed IS NULL or version_removed > n).
CREATE TABLE repository_content (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id TEXT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    content_id TEXT NOT NULL REFERENCES content(id) ON DELETE RESTRICT,
    version_added INTEGER NOT NULL,
    version_removed INTEGER
);
CREATE INDEX repository_content_repo_content ON repository_content (repository_id, content_id);
CREATE INDEX repository_content_added ON repository_content (repository_id, version_added);
CREATE INDEX repository_content_removed ON repository_content (repository_id, version_removed);
CREATE INDEX repository_content_content ON repository_content (content_id);

CREATE TABLE publications (
    id TEXT PRIMARY KEY,
    pulp_type TEXT NOT NULL,
    repository_version_id TEXT NOT NULL REFERENCES repository_versions(id) ON DELETE CASCADE,
    complete INTEGER NOT NULL DEFAULT 0,
    -- also serve the version's content at its relative paths (file publications)
    pass_through INTEGER NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}',
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);
CREATE INDEX publications_version ON publications (repository_version_id);

-- What a publication serves: either a unit's artifact (content_artifact_id) or a file the
-- publication generated itself (artifact_id), at a path relative to the distribution.
CREATE TABLE published_files (
    publication_id TEXT NOT NULL REFERENCES publications(id) ON DELETE CASCADE,
    relative_path TEXT NOT NULL,
    content_artifact_id TEXT REFERENCES content_artifacts(id) ON DELETE RESTRICT,
    artifact_id TEXT REFERENCES artifacts(id) ON DELETE RESTRICT,
    PRIMARY KEY (publication_id, relative_path)
) WITHOUT ROWID;
CREATE INDEX published_files_artifact ON published_files (artifact_id);
CREATE INDEX published_files_content_artifact ON published_files (content_artifact_id);

CREATE TABLE content_guards (
    id TEXT PRIMARY KEY,
    pulp_type TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);

CREATE TABLE distributions (
    id TEXT PRIMARY KEY,
    pulp_type TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    base_path TEXT NOT NULL UNIQUE,
    content_guard_id TEXT REFERENCES content_guards(id) ON DELETE SET NULL,
    publication_id TEXT REFERENCES publications(id) ON DELETE SET NULL,
    repository_id TEXT REFERENCES repositories(id) ON DELETE SET NULL,
    repository_version_id TEXT REFERENCES repository_versions(id) ON DELETE SET NULL,
    remote_id TEXT REFERENCES remotes(id) ON DELETE SET NULL,
    hidden INTEGER NOT NULL DEFAULT 0,
    pulp_labels TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    logging_cid TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    -- exclusive resources as "prn:...", shared ones as "shared:prn:..."
    reserved_resources TEXT NOT NULL DEFAULT '[]',
    args TEXT NOT NULL DEFAULT '{}',
    progress_reports TEXT NOT NULL DEFAULT '[]',
    created_resources TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    result TEXT,
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL,
    unblocked_at TEXT,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX tasks_state ON tasks (state, pulp_created);
CREATE INDEX tasks_created ON tasks (pulp_created);

CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    completed TEXT,
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);

CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (upload_id, offset)
) WITHOUT ROWID;

-- Units declared by a running sync, before they become a repository version. Rows belong to
-- one task and are removed when it ends, however it ends (also at startup after a crash).
CREATE TABLE sync_staging (
    task_id TEXT NOT NULL,
    content_id TEXT NOT NULL,
    PRIMARY KEY (task_id, content_id)
) WITHOUT ROWID;
