-- Metadata fragments a content type keeps per unit so publications can stream them out
-- instead of re-deriving them (e.g. a package's <package> elements of primary.xml,
-- filelists.xml and other.xml).
CREATE TABLE content_metadata (
    content_id TEXT NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (content_id, kind)
) WITHOUT ROWID;
