-- A publication of N packages adds N rows here. The index on content_artifact_id (kept for
-- the foreign key to content_artifacts) made each of them an insert at a random place of an
-- index that grows with every publication: most of a large publish went into it. The key is
-- not needed: a publication belongs to a repository version, whose content is never an
-- orphan while the version exists, and the publication goes when the version goes. So the
-- column stays, without foreign key and index.
CREATE TABLE published_files_new (
    publication_id TEXT NOT NULL REFERENCES publications(id) ON DELETE CASCADE,
    relative_path TEXT NOT NULL,
    content_artifact_id TEXT,
    artifact_id TEXT REFERENCES artifacts(id) ON DELETE RESTRICT,
    PRIMARY KEY (publication_id, relative_path)
) WITHOUT ROWID;
INSERT INTO published_files_new SELECT publication_id, relative_path, content_artifact_id, artifact_id
    FROM published_files;
DROP TABLE published_files;
ALTER TABLE published_files_new RENAME TO published_files;
CREATE INDEX published_files_artifact ON published_files (artifact_id);
