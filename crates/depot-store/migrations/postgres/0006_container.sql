-- The container registry's own records (as SQLite's 0011).
--
-- Namespaces: the first path segment of a container distribution, holding roles of its own
-- (pulp_container's ContainerNamespace).
CREATE TABLE container_namespaces (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    pulp_labels TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    pulp_created TEXT COLLATE "C" NOT NULL,
    pulp_last_updated TEXT COLLATE "C" NOT NULL
);

-- Blobs and manifests pushed to a repository that are in none of its versions yet (Pulp's
-- pending_blobs / pending_manifests): a manifest pushed to the repository may reference them.
-- Rows go with their content when orphan cleanup deletes it.
CREATE TABLE container_pending (
    repository_id TEXT COLLATE "C" NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    content_id TEXT COLLATE "C" NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    added TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repository_id, content_id)
);
CREATE INDEX container_pending_content ON container_pending (content_id);

-- Settings every process shares, e.g. the sealed key that signs registry tokens.
CREATE TABLE settings (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);
