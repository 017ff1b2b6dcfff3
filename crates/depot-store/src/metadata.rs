//! Per-unit metadata fragments (`content_metadata`): what a content type stores at sync or
//! upload time so that publishing streams them out.

use crate::sql::{Backend, Builder, query_as, query_scalar};

use crate::{Db, Result};

/// A unit of a version with one of its metadata fragments.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MetadataRow {
    pub content_id: String,
    /// The unit's fields, JSON.
    pub data: String,
    /// The fragment; empty when the unit has none of this kind.
    pub body: Vec<u8>,
    pub content_artifact_id: Option<String>,
}

/// Where a publication puts a unit's file, from its file name (`relative_path` of its data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathLayout {
    /// At its name.
    AsIs,
    /// Under `<prefix><first letter, lower case>/` (`Packages/f/foo.rpm`).
    ByFirstLetter { prefix: String },
}

/// The SQL of a string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl PathLayout {
    /// The SQL expression of the path of the unit whose name is `name`.
    fn sql(&self, name: &str) -> String {
        match self {
            PathLayout::AsIs => name.to_string(),
            PathLayout::ByFirstLetter { prefix } => format!(
                "{} || lower(substr({name}, 1, 1)) || '/' || {name}",
                literal(prefix)
            ),
        }
    }
}

/// The units of a version a metadata file is written from, as SQL (`rc`, `c`, `m` bound):
/// bind kind, repository id, number, number, pulp type, units to leave out (JSON list).
fn version_units(b: Backend) -> String {
    format!(
        "FROM repository_content rc \
         JOIN content c ON c.id = rc.content_id \
         LEFT JOIN content_metadata m ON m.content_id = c.id AND m.kind = ? \
         WHERE rc.repository_id = ? AND rc.version_added <= ? \
           AND (rc.version_removed IS NULL OR rc.version_removed > ?) \
           AND c.pulp_type = ? AND c.id NOT IN (SELECT j.value FROM {})",
        b.json_array("?", "j")
    )
}

impl Db {
    /// How many units of each type a version holds (one walk of the version).
    pub async fn version_type_counts(
        &self,
        repository_id: &str,
        number: i64,
    ) -> Result<Vec<(String, i64)>> {
        Ok(query_as(
            "SELECT c.pulp_type, count(*) FROM repository_content rc \
             JOIN content c ON c.id = rc.content_id \
             WHERE rc.repository_id = ? AND rc.version_added <= ? \
               AND (rc.version_removed IS NULL OR rc.version_removed > ?) \
             GROUP BY c.pulp_type",
        )
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .fetch_all(&self.read)
        .await?)
    }

    /// Units of `pulp_type` sharing a file name (`relative_path` of their data) with a unit
    /// of a smaller content id: a publication holds one file per name, so these are left
    /// out.
    pub async fn version_duplicate_names(
        &self,
        repository_id: &str,
        number: i64,
        pulp_type: &str,
    ) -> Result<Vec<String>> {
        let b = self.backend();
        Ok(query_scalar(format!(
            "SELECT id FROM (SELECT c.id, row_number() OVER \
               (PARTITION BY {} ORDER BY c.id) AS n \
             {}) AS units WHERE n > 1",
            b.json_field("c.data", "relative_path"),
            version_units(b)
        ))
        .bind("")
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .bind(pulp_type)
        .bind("[]")
        .fetch_all(&self.read)
        .await?)
    }

    /// How many units of `pulp_type` (but `skip`) lack a `kind` fragment (index only).
    pub async fn version_missing_fragments(
        &self,
        repository_id: &str,
        number: i64,
        pulp_type: &str,
        kind: &str,
        skip: &[String],
    ) -> Result<i64> {
        Ok(query_scalar(format!(
            "SELECT count(*) {} AND m.content_id IS NULL",
            version_units(self.backend())
        ))
        .bind(kind)
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .bind(pulp_type)
        .bind(serde_json::to_string(skip).expect("ids serialize"))
        .fetch_one(&self.read)
        .await?)
    }

    /// Up to `limit` of a version's `kind` fragments after content id `after`, joined in
    /// SQLite (one value per page, not one per unit). Without `location` the fragments are
    /// joined by newlines; with it each item is `<path>\x01<fragment>` and items are joined
    /// by `\x02` (bytes no XML text or file name holds), the path being the unit's place
    /// under `location`. Returns (joined bytes, last content id), or `None` past the end.
    /// Every unit must have a fragment (see `version_missing_fragments`). The keyset walks
    /// the `(repository_id, content_id)` index, so no page sorts the rest (items come in
    /// the page's order, as SQLite aggregates rows in the order they arrive; any order would
    /// be valid metadata).
    #[allow(clippy::too_many_arguments)]
    pub async fn version_fragments_joined(
        &self,
        repository_id: &str,
        number: i64,
        pulp_type: &str,
        kind: &str,
        location: Option<&PathLayout>,
        skip: &[String],
        after: &str,
        limit: i64,
    ) -> Result<Option<(Vec<u8>, String)>> {
        let b = self.backend();
        let (piece, separator) = match location {
            None => ("m.body".to_string(), b.bytes("0a")),
            Some(layout) => (
                format!(
                    "{} || {} || m.body",
                    b.text_bytes(&layout.sql(&b.json_field("c.data", "relative_path"))),
                    b.bytes("01")
                ),
                b.bytes("02"),
            ),
        };
        let joined = match b {
            Backend::Sqlite => format!("CAST(group_concat(piece, {separator}) AS BLOB)"),
            Backend::Postgres => format!("string_agg(piece, {separator} ORDER BY id)"),
        };
        let row: Option<(Option<Vec<u8>>, Option<String>)> = query_as(format!(
            "SELECT {joined}, max(id) FROM \
             (SELECT rc.content_id AS id, {piece} AS piece {} \
              AND rc.content_id > ? ORDER BY rc.content_id LIMIT ?) AS page",
            version_units(b)
        ))
        .bind(kind)
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .bind(pulp_type)
        .bind(serde_json::to_string(skip).expect("ids serialize"))
        .bind(after)
        .bind(limit)
        .fetch_optional(&self.read)
        .await?;
        Ok(match row {
            Some((Some(bytes), Some(last))) => Some((bytes, last)),
            _ => None,
        })
    }

    /// The statement that publishes a version's units of `pulp_type` at their layout's paths
    /// (with their first content artifact), run inside `publication_begin`. Rows go in
    /// path order, so the primary key grows at its end instead of splitting pages all over.
    pub(crate) fn version_files_sql(b: Backend, layout: &PathLayout) -> String {
        let path = layout.sql(&b.json_field("c.data", "relative_path"));
        format!(
            "INSERT INTO published_files (publication_id, relative_path, \
               content_artifact_id, artifact_id) \
             SELECT ?, {path} AS path, (SELECT ca.id FROM content_artifacts ca \
               WHERE ca.content_id = c.id ORDER BY ca.relative_path LIMIT 1), NULL \
             {} ORDER BY path{}",
            version_units(b),
            crate::content::PUBLISHED_FILE_UPSERT
        )
    }

    /// Store fragments for units found by the start of their natural key: (key prefix,
    /// body) — e.g. filelists entries that only carry the package's checksum. Returns how
    /// many found their unit.
    pub async fn metadata_put_by_key_prefix(
        &self,
        pulp_type: &str,
        kind: &str,
        entries: &[(String, Vec<u8>)],
    ) -> Result<u64> {
        if entries.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        let mut tx = self.write.begin().await?;
        for chunk in entries.chunks(300) {
            let mut qb: Builder = Builder::new("WITH p(k, body) AS (");
            qb.push_values(chunk, |mut b, (prefix, body)| {
                b.push_bind(prefix).push_bind(body);
            });
            qb.push(
                ") INSERT INTO content_metadata (content_id, kind, body) \
                 SELECT c.id, ",
            )
            .push_bind(kind)
            // CROSS JOIN keeps the prefixes as the outer loop, each a range search on
            // (pulp_type, natural_key); with a plain JOIN SQLite 3.46 scans every unit per
            // prefix instead (0.5 s per batch of 300 at 20,000 packages). The WHERE (not ON)
            // keeps SQLite from reading the upsert's ON as the join's.
            .push(", p.body FROM p CROSS JOIN ");
            // PostgreSQL plans the plain join as a scan of every unit per batch (58 s for
            // 20,000 packages); a LATERAL subquery (kept apart by OFFSET 0) makes each prefix
            // an index range search. SQLite has no LATERAL.
            let postgres = self.backend() == crate::sql::Backend::Postgres;
            qb.push(if postgres {
                "LATERAL (SELECT c.id FROM content c WHERE c.pulp_type = "
            } else {
                "content c WHERE c.pulp_type = "
            })
            .push_bind(pulp_type)
            .push(" AND c.natural_key >= p.k AND c.natural_key < p.k || '\u{10FFFF}'")
            .push(if postgres { " OFFSET 0) c" } else { "" })
            .push(" ON CONFLICT DO NOTHING");
            n += qb.build().execute(&mut tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Fragments of one kind for a repository version's units of `pulp_type`, in pages
    /// (keyset on content id, walked along the `(repository_id, content_id)` index so no page
    /// sorts the rest of the version), with each unit's (first) content artifact.
    pub async fn version_metadata(
        &self,
        repository_id: &str,
        number: i64,
        pulp_type: &str,
        kind: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<MetadataRow>> {
        Ok(query_as(
            "SELECT c.id AS content_id, c.data, coalesce(m.body, ?) AS body, \
               (SELECT ca.id FROM content_artifacts ca WHERE ca.content_id = c.id \
                ORDER BY ca.relative_path LIMIT 1) AS content_artifact_id \
             FROM repository_content rc \
             JOIN content c ON c.id = rc.content_id \
             LEFT JOIN content_metadata m ON m.content_id = c.id AND m.kind = ? \
             WHERE rc.repository_id = ? AND rc.version_added <= ? \
               AND (rc.version_removed IS NULL OR rc.version_removed > ?) \
               AND c.pulp_type = ? AND rc.content_id > ? \
             ORDER BY rc.content_id LIMIT ?",
        )
        .bind(Vec::<u8>::new())
        .bind(kind)
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .bind(pulp_type)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    /// The stored artifact of a content artifact: (artifact id, size).
    pub async fn content_artifact_artifact(
        &self,
        content_artifact_id: &str,
    ) -> Result<Option<(String, u64)>> {
        let row: Option<(String, i64)> = query_as(
            "SELECT a.id, a.size FROM content_artifacts ca JOIN artifacts a ON a.id = ca.artifact_id \
             WHERE ca.id = ?",
        )
        .bind(content_artifact_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(id, size)| (id, size as u64)))
    }
}
