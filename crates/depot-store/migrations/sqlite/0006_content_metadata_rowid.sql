-- Fragments are 0.5-3 KB. In a WITHOUT ROWID table SQLite keeps only about 1 KB of a row on
-- its b-tree page (4 KiB pages) and chains the rest through overflow pages, so publishing
-- read most fragments in pieces. An ordinary table keeps rows up to about 4 KB whole; the
-- unique index finds them.
CREATE TABLE content_metadata_rows (
    id INTEGER PRIMARY KEY,
    content_id TEXT NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (content_id, kind)
);
INSERT INTO content_metadata_rows (content_id, kind, body)
    SELECT content_id, kind, body FROM content_metadata ORDER BY content_id, kind;
DROP TABLE content_metadata;
ALTER TABLE content_metadata_rows RENAME TO content_metadata;
