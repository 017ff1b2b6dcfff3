//! Content units, their artifacts and where those can be fetched: the queries behind the sync
//! engine (declare a batch of units), the content app (find the bytes for a path) and
//! orphan cleanup.

use std::collections::HashMap;

use sqlx::FromRow;

use crate::sql::{Builder, Tx, query, query_as, query_scalar};

use crate::blobs::ExpectedDigests;
use crate::{Db, Result, new_id, now};

/// A published file replaces the one at its path (later rows of one publication win).
pub(crate) const PUBLISHED_FILE_UPSERT: &str = " ON CONFLICT (publication_id, relative_path) \
     DO UPDATE SET content_artifact_id = excluded.content_artifact_id, \
     artifact_id = excluded.artifact_id";

/// A unit as declared by a sync, an upload or a modify.
#[derive(Clone, Debug)]
pub struct NewUnit {
    pub pulp_type: String,
    pub natural_key: String,
    /// The type's fields, as JSON.
    pub data: String,
    pub artifacts: Vec<NewContentArtifact>,
    /// Metadata fragments kept with the unit: (kind, body); see `content_metadata`.
    pub metadata: Vec<(String, Vec<u8>)>,
}

/// One file of a unit.
#[derive(Clone, Debug)]
pub struct NewContentArtifact {
    pub relative_path: String,
    /// An artifact already stored (uploads), if any.
    pub artifact_id: Option<String>,
    /// Where the bytes can be fetched from (syncs), if anywhere.
    pub remote: Option<RemoteSource>,
}

#[derive(Clone, Debug)]
pub struct RemoteSource {
    pub remote_id: String,
    pub url: String,
    pub expected: ExpectedDigests,
}

/// A content artifact of staged content still waiting for its bytes, with where to get them.
#[derive(Clone, Debug, FromRow)]
pub struct PendingDownload {
    pub content_artifact_id: String,
    pub relative_path: String,
    pub url: String,
    pub size: Option<i64>,
    pub sha224: Option<String>,
    pub sha256: Option<String>,
    pub sha384: Option<String>,
    pub sha512: Option<String>,
}

impl PendingDownload {
    pub fn expected(&self) -> ExpectedDigests {
        ExpectedDigests {
            size: self.size.map(|s| s as u64),
            sha224: self.sha224.clone(),
            sha256: self.sha256.clone(),
            sha384: self.sha384.clone(),
            sha512: self.sha512.clone(),
        }
    }
}

/// A publication to create.
#[derive(Clone, Debug)]
pub struct NewPublication {
    pub id: String,
    pub pulp_type: String,
    pub repository_version_id: String,
    pub pass_through: bool,
    pub extra: String,
}

/// A version's units published at their layout's paths, written by SQLite itself (no row
/// goes through the application).
#[derive(Clone, Debug)]
pub struct VersionFiles {
    pub repository_id: String,
    pub number: i64,
    pub pulp_type: String,
    pub layout: crate::metadata::PathLayout,
    /// Units left out (their file name is taken).
    pub skip: Vec<String>,
}

/// One file of a repository version, as publications see it.
#[derive(Clone, Debug, FromRow)]
pub struct VersionFile {
    pub content_artifact_id: String,
    pub relative_path: String,
    pub data: String,
    /// of the stored artifact, or as declared upstream
    pub sha256: Option<String>,
    pub size: Option<i64>,
}

/// What the content app needs to serve one path.
#[derive(Clone, Debug, FromRow)]
pub struct ServedFile {
    pub relative_path: String,
    pub content_artifact_id: Option<String>,
    pub artifact_sha256: Option<String>,
    pub artifact_size: Option<i64>,
    pub artifact_created: Option<String>,
    /// Size declared by a remote, for content not downloaded yet.
    pub remote_size: Option<i64>,
    pub content_created: Option<String>,
}

/// A place an on-demand artifact can be fetched from.
#[derive(Clone, Debug, FromRow)]
pub struct RemoteArtifactRow {
    pub remote_id: String,
    pub url: String,
    pub size: Option<i64>,
    pub sha224: Option<String>,
    pub sha256: Option<String>,
    pub sha384: Option<String>,
    pub sha512: Option<String>,
    pub failed_at: Option<String>,
}

impl RemoteArtifactRow {
    pub fn expected(&self) -> ExpectedDigests {
        ExpectedDigests {
            size: self.size.map(|s| s as u64),
            sha224: self.sha224.clone(),
            sha256: self.sha256.clone(),
            sha384: self.sha384.clone(),
            sha512: self.sha512.clone(),
        }
    }
}

#[derive(Clone, Debug, FromRow)]
pub struct ContentRow {
    pub id: String,
    pub pulp_type: String,
    pub natural_key: String,
    pub data: String,
    pub pulp_labels: String,
    pub pulp_created: String,
    pub pulp_last_updated: String,
    /// sha256 of the unit's first artifact, if downloaded
    pub artifact_sha256: Option<String>,
    pub artifact_id: Option<String>,
}

pub const CONTENT_SELECT: &str = "c.id, c.pulp_type, c.natural_key, c.data, c.pulp_labels, \
     c.pulp_created, c.pulp_last_updated, \
     (SELECT a.sha256 FROM content_artifacts ca JOIN artifacts a ON a.id = ca.artifact_id \
        WHERE ca.content_id = c.id LIMIT 1) AS artifact_sha256, \
     (SELECT ca.artifact_id FROM content_artifacts ca WHERE ca.content_id = c.id LIMIT 1) \
        AS artifact_id";
pub const CONTENT_FROM: &str = "content c";

/// Rows per multi-row INSERT; well under SQLite's bound-variable limit.
const CHUNK: usize = 400;

impl Db {
    /// Make sure every unit exists (matching existing ones by natural key), that each has its
    /// content artifacts, that stored artifacts with a declared sha256 are linked, and that the
    /// remote sources are recorded. When `stage_for` names a task, the units are also staged for
    /// that task's next repository version. Returns the content ids in input order.
    pub async fn declare_units(
        &self,
        units: &[NewUnit],
        stage_for: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut tx = self.write.begin().await?;
        let t = now();
        // two declarations of the same new unit must not both insert it
        let types: std::collections::BTreeSet<&str> =
            units.iter().map(|u| u.pulp_type.as_str()).collect();
        for pulp_type in types {
            tx.serialize(&format!("declare:{pulp_type}")).await?;
        }

        // 1. existing units by natural key: a join with the keys as a VALUES list, which
        // PostgreSQL looks up one by one in the (pulp_type, natural_key) index (a row-value
        // IN list of the same keys it scanned as a bitmap: 86 ms instead of 3.5 ms for 333)
        let mut ids: HashMap<(String, String), String> = HashMap::new();
        for chunk in units.chunks(CHUNK) {
            let mut qb: Builder = Builder::new(
                "SELECT c.pulp_type, c.natural_key, c.id FROM content c JOIN (VALUES ",
            );
            let mut sep = qb.separated(", ");
            for u in chunk {
                sep.push("(")
                    .push_bind_unseparated(&u.pulp_type)
                    .push_unseparated(", ")
                    .push_bind_unseparated(&u.natural_key)
                    .push_unseparated(")");
            }
            qb.push(") AS k ON c.pulp_type = k.column1 AND c.natural_key = k.column2");
            let rows: Vec<(String, String, String)> =
                qb.build_query_as().fetch_all(&mut tx).await?;
            for (pt, nk, id) in rows {
                ids.insert((pt, nk), id);
            }
        }

        // 2. insert the new ones
        let mut new_units = Vec::new();
        for u in units {
            let key = (u.pulp_type.clone(), u.natural_key.clone());
            if let std::collections::hash_map::Entry::Vacant(e) = ids.entry(key) {
                let id = new_id();
                e.insert(id.clone());
                new_units.push((id, u));
            }
        }
        for chunk in new_units.chunks(CHUNK) {
            let mut qb: Builder = Builder::new(
                "INSERT INTO content (id, pulp_type, natural_key, data, pulp_created, \
                 pulp_last_updated) ",
            );
            qb.push_values(chunk, |mut b, (id, u)| {
                b.push_bind(id)
                    .push_bind(&u.pulp_type)
                    .push_bind(&u.natural_key)
                    .push_bind(&u.data)
                    .push_bind(&t)
                    .push_bind(&t);
            });
            qb.build().execute(&mut tx).await?;
        }
        let content_ids: Vec<String> = units
            .iter()
            .map(|u| ids[&(u.pulp_type.clone(), u.natural_key.clone())].clone())
            .collect();

        // 3. content artifacts
        let mut existing_ca: HashMap<(String, String), (String, Option<String>)> = HashMap::new();
        for chunk in content_ids.chunks(CHUNK) {
            let mut qb: Builder = Builder::new(
                "SELECT id, content_id, relative_path, artifact_id FROM content_artifacts \
                 WHERE content_id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id);
            }
            qb.push(")");
            let rows: Vec<(String, String, String, Option<String>)> =
                qb.build_query_as().fetch_all(&mut tx).await?;
            for (id, cid, rp, aid) in rows {
                existing_ca.insert((cid, rp), (id, aid));
            }
        }

        // 4. stored artifacts matching declared digests (dedup across repositories)
        let wanted_sha: Vec<&str> = units
            .iter()
            .flat_map(|u| u.artifacts.iter())
            .filter(|a| a.artifact_id.is_none())
            .filter_map(|a| a.remote.as_ref()?.expected.sha256.as_deref())
            .collect();
        let mut by_sha: HashMap<String, String> = HashMap::new();
        for chunk in wanted_sha.chunks(CHUNK) {
            let mut qb: Builder =
                Builder::new("SELECT sha256, id FROM artifacts WHERE sha256 IN (");
            let mut sep = qb.separated(", ");
            for s in chunk {
                sep.push_bind(*s);
            }
            qb.push(")");
            let rows: Vec<(String, String)> = qb.build_query_as().fetch_all(&mut tx).await?;
            by_sha.extend(rows);
        }

        let mut new_ca = Vec::new(); // (id, content_id, relative_path, artifact_id)
        let mut link_ca = Vec::new(); // (ca id, artifact id)
        let mut remote_rows = Vec::new(); // (ca id, &RemoteSource)
        for (u, cid) in units.iter().zip(&content_ids) {
            for a in &u.artifacts {
                let known = a.artifact_id.clone().or_else(|| {
                    let sha = a.remote.as_ref()?.expected.sha256.as_deref()?;
                    by_sha.get(sha).cloned()
                });
                let ca_id = match existing_ca.get(&(cid.clone(), a.relative_path.clone())) {
                    Some((id, current)) => {
                        if current.is_none()
                            && let Some(aid) = &known
                        {
                            link_ca.push((id.clone(), aid.clone()));
                        }
                        id.clone()
                    }
                    None => {
                        let id = new_id();
                        existing_ca.insert(
                            (cid.clone(), a.relative_path.clone()),
                            (id.clone(), known.clone()),
                        );
                        new_ca.push((id.clone(), cid.clone(), a.relative_path.clone(), known));
                        id
                    }
                };
                if let Some(r) = &a.remote {
                    remote_rows.push((ca_id, r));
                }
            }
        }
        for chunk in new_ca.chunks(CHUNK) {
            let mut qb: Builder = Builder::new(
                "INSERT INTO content_artifacts (id, content_id, relative_path, artifact_id) ",
            );
            qb.push_values(chunk, |mut b, (id, cid, rp, aid)| {
                b.push_bind(id).push_bind(cid).push_bind(rp).push_bind(aid);
            });
            qb.build().execute(&mut tx).await?;
        }
        for (ca, aid) in &link_ca {
            query("UPDATE content_artifacts SET artifact_id = ? WHERE id = ?")
                .bind(aid)
                .bind(ca)
                .execute(&mut tx)
                .await?;
        }

        // 5. remote sources
        for chunk in remote_rows.chunks(CHUNK / 2) {
            let mut qb: Builder = Builder::new(
                "INSERT INTO remote_artifacts (id, content_artifact_id, remote_id, url, size, \
                 sha224, sha256, sha384, sha512) ",
            );
            qb.push_values(chunk, |mut b, (ca, r)| {
                b.push_bind(new_id())
                    .push_bind(ca)
                    .push_bind(&r.remote_id)
                    .push_bind(&r.url)
                    .push_bind(r.expected.size.map(|s| s as i64))
                    .push_bind(&r.expected.sha224)
                    .push_bind(&r.expected.sha256)
                    .push_bind(&r.expected.sha384)
                    .push_bind(&r.expected.sha512);
            });
            qb.push(
                " ON CONFLICT (content_artifact_id, remote_id) DO UPDATE SET url = excluded.url, \
                 size = excluded.size, sha224 = excluded.sha224, sha256 = excluded.sha256, \
                 sha384 = excluded.sha384, sha512 = excluded.sha512, failed_at = NULL",
            );
            qb.build().execute(&mut tx).await?;
        }

        // 6. metadata fragments of new units (a unit's metadata never changes)
        let fragments: Vec<(&String, &String, &Vec<u8>)> = new_units
            .iter()
            .flat_map(|(id, u)| u.metadata.iter().map(move |(k, b)| (id, k, b)))
            .collect();
        for chunk in fragments.chunks(CHUNK) {
            let mut qb: Builder =
                Builder::new("INSERT INTO content_metadata (content_id, kind, body) ");
            qb.push_values(chunk, |mut b, (id, kind, body)| {
                b.push_bind(*id).push_bind(*kind).push_bind(*body);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut tx).await?;
        }

        // 7. stage for the task's new version
        if let Some(task) = stage_for {
            self.staging.mark(task);
            for chunk in content_ids.chunks(CHUNK) {
                let mut qb: Builder =
                    Builder::new("INSERT INTO sync_staging (task_id, content_id) ");
                qb.push_values(chunk, |mut b, cid| {
                    b.push_bind(task).push_bind(cid);
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut tx).await?;
            }
        }
        tx.commit().await?;
        Ok(content_ids)
    }

    /// Staged content artifacts without bytes that `remote_id` can provide, in pages
    /// (keyset on the content artifact id).
    pub async fn pending_downloads(
        &self,
        task_id: &str,
        remote_id: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<PendingDownload>> {
        Ok(query_as(
            "SELECT ca.id AS content_artifact_id, ca.relative_path, ra.url, ra.size, ra.sha224, \
             ra.sha256, ra.sha384, ra.sha512 \
             FROM sync_staging s JOIN content_artifacts ca ON ca.content_id = s.content_id \
             JOIN remote_artifacts ra ON ra.content_artifact_id = ca.id AND ra.remote_id = ? \
             WHERE s.task_id = ? AND ca.artifact_id IS NULL AND ca.id > ? \
             ORDER BY ca.id LIMIT ?",
        )
        .bind(remote_id)
        .bind(task_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    pub async fn pending_download_count(&self, task_id: &str, remote_id: &str) -> Result<i64> {
        Ok(query_scalar(
            "SELECT count(*) FROM sync_staging s \
             JOIN content_artifacts ca ON ca.content_id = s.content_id \
             JOIN remote_artifacts ra ON ra.content_artifact_id = ca.id AND ra.remote_id = ? \
             WHERE s.task_id = ? AND ca.artifact_id IS NULL",
        )
        .bind(remote_id)
        .bind(task_id)
        .fetch_one(&self.read)
        .await?)
    }

    /// Link downloaded artifacts to their content artifacts, in one transaction.
    pub async fn link_artifacts(&self, links: &[(String, String)]) -> Result<()> {
        if links.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin().await?;
        for (ca, aid) in links {
            query("UPDATE content_artifacts SET artifact_id = ? WHERE id = ?")
                .bind(aid)
                .bind(ca)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Record downloaded blobs as artifacts and link each to its content artifact, in one
    /// transaction of a few multi-row statements (downloads arrive by the thousand).
    pub async fn record_downloads(&self, done: &[(String, crate::Digests)]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let t = now();
        let mut tx = self.write.begin().await?;
        let mut ids: HashMap<String, String> = HashMap::new();
        // one row per digest: an upsert may not touch a row twice (PostgreSQL refuses)
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&(String, crate::Digests)> = done
            .iter()
            .filter(|(_, d)| seen.insert(&d.sha256))
            .collect();
        for chunk in unique.chunks(CHUNK / 2) {
            let mut qb: Builder = Builder::new(
                "INSERT INTO artifacts (id, sha256, size, sha224, sha384, sha512, pulp_created, \
                 pulp_last_updated) ",
            );
            qb.push_values(chunk, |mut b, (_, d)| {
                b.push_bind(new_id())
                    .push_bind(&d.sha256)
                    .push_bind(d.size as i64)
                    .push_bind(&d.sha224)
                    .push_bind(&d.sha384)
                    .push_bind(&d.sha512)
                    .push_bind(&t)
                    .push_bind(&t);
            });
            qb.push(
                " ON CONFLICT (sha256) DO UPDATE SET \
                 sha224 = coalesce(artifacts.sha224, excluded.sha224), \
                 sha384 = coalesce(artifacts.sha384, excluded.sha384), \
                 sha512 = coalesce(artifacts.sha512, excluded.sha512) \
                 RETURNING sha256, id",
            );
            let rows: Vec<(String, String)> = qb.build_query_as().fetch_all(&mut tx).await?;
            ids.extend(rows);
        }
        for chunk in done.chunks(CHUNK / 2) {
            let mut qb: Builder = Builder::new("WITH v(ca, aid) AS (");
            qb.push_values(chunk, |mut b, (ca, d)| {
                b.push_bind(ca).push_bind(ids.get(&d.sha256).cloned());
            });
            qb.push(
                ") UPDATE content_artifacts SET artifact_id = \
                 (SELECT aid FROM v WHERE v.ca = content_artifacts.id) \
                 WHERE id IN (SELECT ca FROM v)",
            );
            qb.build().execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn mark_remote_artifact_failed(
        &self,
        content_artifact_id: &str,
        remote_id: &str,
    ) -> Result<()> {
        query(
            "UPDATE remote_artifacts SET failed_at = ? WHERE content_artifact_id = ? \
             AND remote_id = ?",
        )
        .bind(now())
        .bind(content_artifact_id)
        .bind(remote_id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Where an unfetched content artifact can come from, oldest source first.
    pub async fn remote_artifacts_for(
        &self,
        content_artifact_id: &str,
    ) -> Result<Vec<RemoteArtifactRow>> {
        Ok(query_as(
            "SELECT remote_id, url, size, sha224, sha256, sha384, sha512, failed_at \
             FROM remote_artifacts WHERE content_artifact_id = ? ORDER BY id",
        )
        .bind(content_artifact_id)
        .fetch_all(&self.read)
        .await?)
    }

    /// The artifact currently linked to a content artifact, if any.
    pub async fn content_artifact_sha256(
        &self,
        content_artifact_id: &str,
    ) -> Result<Option<String>> {
        Ok(query_scalar(
            "SELECT a.sha256 FROM content_artifacts ca JOIN artifacts a ON a.id = ca.artifact_id \
             WHERE ca.id = ?",
        )
        .bind(content_artifact_id)
        .fetch_optional(&self.read)
        .await?)
    }

    pub async fn content_get(&self, id: &str) -> Result<Option<ContentRow>> {
        Ok(query_as(format!(
            "SELECT {CONTENT_SELECT} FROM {CONTENT_FROM} WHERE c.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    /// Which of `ids` exist, with their types.
    pub async fn content_types_of(&self, ids: &[String]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let mut qb: Builder = Builder::new("SELECT id, pulp_type FROM content WHERE id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id);
            }
            qb.push(")");
            let rows: Vec<(String, String)> = qb.build_query_as().fetch_all(&self.read).await?;
            out.extend(rows);
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // content app lookups

    /// A file a publication serves at `path`.
    pub async fn published_file(
        &self,
        publication_id: &str,
        path: &str,
    ) -> Result<Option<ServedFile>> {
        Ok(query_as(
            "SELECT pf.relative_path, pf.content_artifact_id, \
             a.sha256 AS artifact_sha256, a.size AS artifact_size, \
             a.pulp_created AS artifact_created, \
             (SELECT ra.size FROM remote_artifacts ra \
                WHERE ra.content_artifact_id = pf.content_artifact_id LIMIT 1) AS remote_size, \
             NULL AS content_created \
             FROM published_files pf \
             LEFT JOIN content_artifacts ca ON ca.id = pf.content_artifact_id \
             LEFT JOIN artifacts a ON a.id = coalesce(pf.artifact_id, ca.artifact_id) \
             WHERE pf.publication_id = ? AND pf.relative_path = ?",
        )
        .bind(publication_id)
        .bind(path)
        .fetch_optional(&self.read)
        .await?)
    }

    /// A file of a repository version's content at `path`: found by its path first (indexed),
    /// then checked against the version's membership (CROSS JOIN keeps SQLite from walking
    /// the whole version instead, and `+` from using the version-range index).
    pub async fn version_file(
        &self,
        repository_id: &str,
        number: i64,
        path: &str,
    ) -> Result<Option<ServedFile>> {
        let b = self.backend();
        Ok(query_as(format!(
            "SELECT ca.relative_path, ca.id AS content_artifact_id, \
             a.sha256 AS artifact_sha256, a.size AS artifact_size, \
             a.pulp_created AS artifact_created, \
             (SELECT ra.size FROM remote_artifacts ra WHERE ra.content_artifact_id = ca.id LIMIT 1) \
               AS remote_size, \
             c.pulp_created AS content_created \
             FROM content_artifacts ca \
             {} repository_content rc ON rc.content_id = ca.content_id \
             JOIN content c ON c.id = ca.content_id \
             LEFT JOIN artifacts a ON a.id = ca.artifact_id \
             WHERE ca.relative_path = ? AND rc.repository_id = ? AND {} <= ? \
               AND (rc.version_removed IS NULL OR rc.version_removed > ?) \
             LIMIT 1",
            b.ordered_join(),
            b.no_index("rc.version_added")
        ))
        .bind(path)
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .fetch_optional(&self.read)
        .await?)
    }

    /// Up to `limit` published paths in (`after`, `before`), in order: the building block of
    /// directory listings, which skip whole subtrees by moving `after`.
    pub async fn published_paths_between(
        &self,
        publication_id: &str,
        after: &str,
        before: &str,
        limit: i64,
    ) -> Result<Vec<ServedFile>> {
        Ok(query_as(
            "SELECT pf.relative_path, pf.content_artifact_id, a.sha256 AS artifact_sha256, \
             a.size AS artifact_size, a.pulp_created AS artifact_created, \
             (SELECT ra.size FROM remote_artifacts ra \
                WHERE ra.content_artifact_id = pf.content_artifact_id LIMIT 1) AS remote_size, \
             NULL AS content_created \
             FROM published_files pf \
             LEFT JOIN content_artifacts ca ON ca.id = pf.content_artifact_id \
             LEFT JOIN artifacts a ON a.id = coalesce(pf.artifact_id, ca.artifact_id) \
             WHERE pf.publication_id = ? AND pf.relative_path > ? AND pf.relative_path < ? \
             ORDER BY pf.relative_path LIMIT ?",
        )
        .bind(publication_id)
        .bind(after)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    /// Like `published_paths_between`, over a repository version's content.
    pub async fn version_paths_between(
        &self,
        repository_id: &str,
        number: i64,
        after: &str,
        before: &str,
        limit: i64,
    ) -> Result<Vec<ServedFile>> {
        Ok(query_as(
            "SELECT ca.relative_path, ca.id AS content_artifact_id, a.sha256 AS artifact_sha256, \
             a.size AS artifact_size, a.pulp_created AS artifact_created, \
             (SELECT ra.size FROM remote_artifacts ra WHERE ra.content_artifact_id = ca.id LIMIT 1) \
               AS remote_size, \
             c.pulp_created AS content_created \
             FROM content_artifacts ca \
             JOIN repository_content rc ON rc.content_id = ca.content_id \
             JOIN content c ON c.id = ca.content_id \
             LEFT JOIN artifacts a ON a.id = ca.artifact_id \
             WHERE rc.repository_id = ? AND rc.version_added <= ? \
               AND (rc.version_removed IS NULL OR rc.version_removed > ?) \
               AND ca.relative_path > ? AND ca.relative_path < ? \
             ORDER BY ca.relative_path LIMIT ?",
        )
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .bind(after)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    // -----------------------------------------------------------------------------------------
    // publications

    /// Start a publication: its row (not complete, so invisible) and the files of
    /// `from_version`, while its metadata is still being written. `publication_finish`
    /// completes it; `publication_abandon` (or recovery after a crash) removes it.
    pub async fn publication_begin(
        &self,
        p: &NewPublication,
        from_version: Option<&VersionFiles>,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        Self::insert_publication(&mut tx, p, false).await?;
        if let Some(v) = from_version {
            Self::insert_version_files(&mut tx, &p.id, v).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Add `files` to a publication begun with `publication_begin` and make it complete.
    pub async fn publication_finish(
        &self,
        id: &str,
        files: &[(String, Option<String>, Option<String>)],
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        Self::insert_files(&mut tx, id, files).await?;
        query(
            "UPDATE publications SET complete = TRUE, pulp_created = ?, pulp_last_updated = ? \
             WHERE id = ?",
        )
        .bind(now())
        .bind(now())
        .bind(id)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        self.changed(crate::events::Topic::Serving);
        Ok(())
    }

    /// Remove a publication that was begun but will not be finished.
    pub async fn publication_abandon(&self, id: &str) -> Result<()> {
        let mut tx = self.write.begin().await?;
        query(
            "DELETE FROM published_files WHERE publication_id IN \
             (SELECT id FROM publications WHERE id = ? AND complete = FALSE)",
        )
        .bind(id)
        .execute(&mut tx)
        .await?;
        query("DELETE FROM publications WHERE id = ? AND complete = FALSE")
            .bind(id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_publication(tx: &mut Tx, p: &NewPublication, complete: bool) -> Result<()> {
        let t = now();
        query(
            "INSERT INTO publications (id, pulp_type, repository_version_id, complete, \
             pass_through, extra, pulp_created, pulp_last_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&p.id)
        .bind(&p.pulp_type)
        .bind(&p.repository_version_id)
        .bind(complete)
        .bind(p.pass_through)
        .bind(&p.extra)
        .bind(&t)
        .bind(&t)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn insert_version_files(
        tx: &mut Tx,
        publication_id: &str,
        v: &VersionFiles,
    ) -> Result<()> {
        query(Db::version_files_sql(tx.backend(), &v.layout))
            .bind(publication_id)
            .bind("primary")
            .bind(&v.repository_id)
            .bind(v.number)
            .bind(v.number)
            .bind(&v.pulp_type)
            .bind(serde_json::to_string(&v.skip).expect("ids serialize"))
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    async fn insert_files(
        tx: &mut Tx,
        publication_id: &str,
        files: &[(String, Option<String>, Option<String>)],
    ) -> Result<()> {
        for chunk in files.chunks(CHUNK) {
            let mut qb: Builder = Builder::new(
                "INSERT INTO published_files (publication_id, relative_path, \
                 content_artifact_id, artifact_id) ",
            );
            qb.push_values(chunk, |mut b, (rp, ca, a)| {
                b.push_bind(publication_id)
                    .push_bind(rp)
                    .push_bind(ca)
                    .push_bind(a);
            });
            qb.push(PUBLISHED_FILE_UPSERT);
            qb.build().execute(&mut *tx).await?;
        }
        Ok(())
    }

    /// Create a complete publication with the files it serves, in one transaction:
    /// (relative_path, content_artifact_id, artifact_id).
    pub async fn publication_create(
        &self,
        p: &NewPublication,
        files: &[(String, Option<String>, Option<String>)],
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        Self::insert_publication(&mut tx, p, true).await?;
        Self::insert_files(&mut tx, &p.id, files).await?;
        tx.commit().await?;
        self.changed(crate::events::Topic::Serving);
        Ok(())
    }

    /// A version's content artifacts in pages (keyset on relative path then id): what a
    /// publication publishes.
    pub async fn version_content_artifacts(
        &self,
        repository_id: &str,
        number: i64,
        after: (&str, &str),
        limit: i64,
    ) -> Result<Vec<VersionFile>> {
        Ok(query_as(
            "SELECT ca.id AS content_artifact_id, ca.relative_path, c.data, \
             coalesce(a.sha256, (SELECT ra.sha256 FROM remote_artifacts ra \
                WHERE ra.content_artifact_id = ca.id LIMIT 1)) AS sha256, \
             coalesce(a.size, (SELECT ra.size FROM remote_artifacts ra \
                WHERE ra.content_artifact_id = ca.id LIMIT 1)) AS size \
             FROM content_artifacts ca \
             JOIN repository_content rc ON rc.content_id = ca.content_id \
             JOIN content c ON c.id = ca.content_id \
             LEFT JOIN artifacts a ON a.id = ca.artifact_id \
             WHERE rc.repository_id = ? AND rc.version_added <= ? \
               AND (rc.version_removed IS NULL OR rc.version_removed > ?) \
               AND (ca.relative_path, ca.id) > (?, ?) \
             ORDER BY ca.relative_path, ca.id LIMIT ?",
        )
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    // -----------------------------------------------------------------------------------------
    // orphans

    /// Delete content in no repository version and artifacts nothing refers to, created before
    /// `older_than`. Returns (units, artifacts) removed and the digests whose blobs to delete.
    /// (Published files need no check of their own: a publication belongs to a version, whose
    /// content keeps its `repository_content` rows while the version exists.)
    pub async fn orphan_cleanup(
        &self,
        older_than: &str,
        only: Option<&[String]>,
    ) -> Result<(u64, u64, Vec<String>)> {
        let only_json = only.map(|ids| serde_json::to_string(ids).expect("ids serialize"));
        let mut tx = self.write.begin().await?;
        let units = query(format!(
            "DELETE FROM content WHERE pulp_created < ? \
             AND (? IS NULL OR id IN (SELECT j.value FROM {})) AND NOT EXISTS \
             (SELECT 1 FROM repository_content rc WHERE rc.content_id = content.id)",
            self.backend().json_array("?", "j")
        ))
        .bind(older_than)
        .bind(&only_json)
        .bind(&only_json)
        .execute(&mut tx)
        .await?
        .rows_affected();
        let digests: Vec<String> = query_scalar(
            "DELETE FROM artifacts WHERE pulp_created < ? \
             AND NOT EXISTS (SELECT 1 FROM content_artifacts ca WHERE ca.artifact_id = artifacts.id) \
             AND NOT EXISTS (SELECT 1 FROM published_files pf WHERE pf.artifact_id = artifacts.id) \
             RETURNING sha256",
        )
        .bind(older_than)
        .fetch_all(&mut tx)
        .await?;
        tx.commit().await?;
        let n = digests.len() as u64;
        Ok((units, n, digests))
    }
}
