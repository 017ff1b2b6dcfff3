//! Per-unit metadata fragments (`content_metadata`): what a content type stores at sync or
//! upload time so that publishing streams them out.

use sqlx::{QueryBuilder, Sqlite};

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

impl Db {
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
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("WITH p(k, body) AS (");
            qb.push_values(chunk, |mut b, (prefix, body)| {
                b.push_bind(prefix).push_bind(body);
            });
            qb.push(
                ") INSERT OR IGNORE INTO content_metadata (content_id, kind, body) \
                 SELECT c.id, ",
            )
            .push_bind(kind)
            // CROSS JOIN keeps the prefixes as the outer loop, each a range search on
            // (pulp_type, natural_key); with a plain JOIN SQLite 3.46 scans every unit per
            // prefix instead (0.5 s per batch of 300 at 20,000 packages).
            .push(", p.body FROM p CROSS JOIN content c ON c.pulp_type = ")
            .push_bind(pulp_type)
            .push(" AND c.natural_key >= p.k AND c.natural_key < p.k || '\u{10FFFF}'");
            n += qb.build().execute(&mut *tx).await?.rows_affected();
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
        Ok(sqlx::query_as(
            "SELECT c.id AS content_id, c.data, coalesce(m.body, x'') AS body, \
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

    /// Units of a type in a version, counted.
    pub async fn version_count(
        &self,
        repository_id: &str,
        number: i64,
        pulp_type: &str,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM repository_content rc JOIN content c ON c.id = rc.content_id \
             WHERE rc.repository_id = ? AND rc.version_added <= ? \
               AND (rc.version_removed IS NULL OR rc.version_removed > ?) AND c.pulp_type = ?",
        )
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .bind(pulp_type)
        .fetch_one(&self.read)
        .await?)
    }

    /// The stored artifact of a content artifact: (artifact id, size).
    pub async fn content_artifact_artifact(
        &self,
        content_artifact_id: &str,
    ) -> Result<Option<(String, u64)>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT a.id, a.size FROM content_artifacts ca JOIN artifacts a ON a.id = ca.artifact_id \
             WHERE ca.id = ?",
        )
        .bind(content_artifact_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(id, size)| (id, size as u64)))
    }
}
