//! Repository versions: staging a new version's content, committing it atomically, deleting
//! versions, and the per-version content summaries.
//!
//! A new version is built by staging the exact set of content it should contain, or the
//! units to add to the current content, under the task's id in `sync_staging`; `commit_version`
//! then computes the difference with the latest version and writes it in one transaction. A
//! task that dies before that leaves only staging rows, which are removed at startup.

use std::collections::BTreeMap;

use sqlx::FromRow;

use crate::sql::{Builder, Tx, query, query_as, query_scalar};

use crate::{Db, Result, StoreError, new_id, now};

#[derive(Clone, Debug, FromRow)]
pub struct VersionRow {
    pub id: String,
    pub repository_id: String,
    pub repository_type: String,
    pub number: i64,
    pub base_version_number: Option<i64>,
    pub content_summary: String,
    pub pulp_created: String,
    pub pulp_last_updated: String,
}

pub const VERSION_SELECT: &str = "v.id, v.repository_id, r.pulp_type AS repository_type, \
     v.number, b.number AS base_version_number, v.content_summary, v.pulp_created, \
     v.pulp_last_updated";
pub const VERSION_FROM: &str = "repository_versions v \
     JOIN repositories r ON r.id = v.repository_id \
     LEFT JOIN repository_versions b ON b.id = v.base_version_id";

/// How staged content becomes the new version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitMode {
    /// The new version is exactly the staged set.
    Exact,
    /// The staged set is added to the latest version's content.
    Add,
}

/// Counts per content type: the stored form of a version's `content_summary`.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub added: BTreeMap<String, i64>,
    pub removed: BTreeMap<String, i64>,
    pub present: BTreeMap<String, i64>,
}

impl Db {
    pub async fn version_get(
        &self,
        repository_id: &str,
        number: i64,
    ) -> Result<Option<VersionRow>> {
        Ok(query_as(format!(
            "SELECT {VERSION_SELECT} FROM {VERSION_FROM} \
             WHERE v.repository_id = ? AND v.number = ? AND v.complete = TRUE"
        ))
        .bind(repository_id)
        .bind(number)
        .fetch_optional(&self.read)
        .await?)
    }

    pub async fn version_by_id(&self, id: &str) -> Result<Option<VersionRow>> {
        Ok(query_as(format!(
            "SELECT {VERSION_SELECT} FROM {VERSION_FROM} WHERE v.id = ? AND v.complete = TRUE"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    pub async fn version_latest(&self, repository_id: &str) -> Result<Option<VersionRow>> {
        Ok(query_as(format!(
            "SELECT {VERSION_SELECT} FROM {VERSION_FROM} \
             WHERE v.repository_id = ? AND v.complete = TRUE ORDER BY v.number DESC LIMIT 1"
        ))
        .bind(repository_id)
        .fetch_optional(&self.read)
        .await?)
    }

    /// Stage the content of an existing version (the start of a modify).
    pub async fn stage_version_content(
        &self,
        task_id: &str,
        repository_id: &str,
        number: i64,
    ) -> Result<()> {
        self.staging.mark(task_id);
        query(
            "INSERT INTO sync_staging (task_id, content_id) \
             SELECT ?, content_id FROM repository_content WHERE repository_id = ? \
             AND version_added <= ? AND (version_removed IS NULL OR version_removed > ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(task_id)
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn stage_content(&self, task_id: &str, content_ids: &[String]) -> Result<()> {
        self.staging.mark(task_id);
        let mut tx = self.write.begin().await?;
        for chunk in content_ids.chunks(400) {
            let mut qb: Builder = Builder::new("INSERT INTO sync_staging (task_id, content_id) ");
            qb.push_values(chunk, |mut b, cid| {
                b.push_bind(task_id).push_bind(cid);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn unstage_content(&self, task_id: &str, content_ids: &[String]) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for cid in content_ids {
            query("DELETE FROM sync_staging WHERE task_id = ? AND content_id = ?")
                .bind(task_id)
                .bind(cid)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Remove staged units whose `repo_key` equals that of one of `keep` (but which are not in
    /// `keep`): the newest unit for a key wins.
    pub async fn unstage_key_conflicts(
        &self,
        task_id: &str,
        keep: &[String],
        repo_key: &str,
    ) -> Result<()> {
        if keep.is_empty() {
            return Ok(());
        }
        let keep_json = serde_json::to_string(keep).expect("ids serialize");
        query(
            "DELETE FROM sync_staging WHERE task_id = ? \
             AND content_id NOT IN (SELECT value FROM json_each(?)) \
             AND json_extract((SELECT data FROM content WHERE id = sync_staging.content_id), ?) IN \
               (SELECT json_extract(c.data, ?) FROM content c \
                WHERE c.id IN (SELECT value FROM json_each(?)))",
        )
        .bind(task_id)
        .bind(&keep_json)
        .bind(repo_key)
        .bind(repo_key)
        .bind(&keep_json)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Remove what the task staged (nothing to do for a task that staged nothing here).
    pub async fn clear_staging(&self, task_id: &str) -> Result<()> {
        if !self.staging.take(task_id) {
            return Ok(());
        }
        query("DELETE FROM sync_staging WHERE task_id = ?")
            .bind(task_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Turn the task's staged content into the repository's next version, in one transaction.
    /// Returns the new version's number, or `None` when it would equal the latest version (no
    /// version is created then). Staging rows are consumed either way.
    ///
    /// `repo_key` names the JSON field of a unit's data that must be unique within a version
    /// (e.g. `$.relative_path` for files): in `Add` mode a staged unit replaces the present one
    /// with the same key, and two staged units with the same key are an error.
    pub async fn commit_version(
        &self,
        task_id: &str,
        repository_id: &str,
        mode: CommitMode,
        base_version: Option<i64>,
        repo_key: Option<&str>,
    ) -> Result<Option<i64>> {
        let mut tx = self.write.begin().await?;
        let latest: i64 = query_scalar(
            "SELECT coalesce(max(number), 0) FROM repository_versions \
             WHERE repository_id = ? AND complete = TRUE",
        )
        .bind(repository_id)
        .fetch_one(&mut tx)
        .await?;
        let next: i64 = query_scalar("SELECT next_version FROM repositories WHERE id = ?")
            .bind(repository_id)
            .fetch_optional(&mut tx)
            .await?
            .ok_or(StoreError::NotFound)?;

        if let Some(key) = repo_key {
            let dups: Vec<(String, i64)> = query_as(
                "SELECT k, n FROM (SELECT json_extract(c.data, ?) AS k, count(*) AS n \
                 FROM sync_staging s JOIN content c ON c.id = s.content_id WHERE s.task_id = ? \
                 GROUP BY 1) AS g WHERE n > 1 AND k IS NOT NULL LIMIT 5",
            )
            .bind(key)
            .bind(task_id)
            .fetch_all(&mut tx)
            .await?;
            if !dups.is_empty() {
                let names: Vec<&str> = dups.iter().map(|(k, _)| k.as_str()).collect();
                return Err(StoreError::Conflict(format!(
                    "[PLP0022] Found {} duplicate contents in repository version: more than one \
                     unit has the same repository key ({})",
                    dups.len(),
                    names.join(", ")
                )));
            }
        }
        // rows still present that a staged unit replaces (same repo key, different unit)
        let replaced_sql = "repository_id = ? AND version_removed IS NULL \
             AND content_id NOT IN (SELECT content_id FROM sync_staging WHERE task_id = ?) \
             AND json_extract((SELECT data FROM content WHERE id = repository_content.content_id), ?) \
                 IN (SELECT json_extract(c.data, ?) FROM sync_staging s \
                     JOIN content c ON c.id = s.content_id WHERE s.task_id = ?)";

        // content of the latest version is exactly the rows not yet removed
        let added: i64 = query_scalar(
            "SELECT count(*) FROM sync_staging s WHERE s.task_id = ? AND NOT EXISTS \
             (SELECT 1 FROM repository_content rc WHERE rc.repository_id = ? \
              AND rc.content_id = s.content_id AND rc.version_removed IS NULL)",
        )
        .bind(task_id)
        .bind(repository_id)
        .fetch_one(&mut tx)
        .await?;
        let removed: i64 = if mode == CommitMode::Exact {
            query_scalar(
                "SELECT count(*) FROM repository_content rc WHERE rc.repository_id = ? \
                 AND rc.version_removed IS NULL AND NOT EXISTS \
                 (SELECT 1 FROM sync_staging s WHERE s.task_id = ? AND s.content_id = rc.content_id)",
            )
            .bind(repository_id)
            .bind(task_id)
            .fetch_one(&mut tx)
            .await?
        } else if let Some(key) = repo_key {
            query_scalar(format!(
                "SELECT count(*) FROM repository_content WHERE {replaced_sql}"
            ))
            .bind(repository_id)
            .bind(task_id)
            .bind(key)
            .bind(key)
            .bind(task_id)
            .fetch_one(&mut tx)
            .await?
        } else {
            0
        };

        if added == 0 && removed == 0 {
            query("DELETE FROM sync_staging WHERE task_id = ?")
                .bind(task_id)
                .execute(&mut tx)
                .await?;
            tx.commit().await?;
            self.staging.take(task_id);
            return Ok(None);
        }

        let number = next.max(latest + 1);
        if mode == CommitMode::Exact {
            query(
                "UPDATE repository_content SET version_removed = ? WHERE repository_id = ? \
                 AND version_removed IS NULL AND NOT EXISTS \
                 (SELECT 1 FROM sync_staging s WHERE s.task_id = ? AND s.content_id = repository_content.content_id)",
            )
            .bind(number)
            .bind(repository_id)
            .bind(task_id)
            .execute(&mut tx)
            .await?;
        } else if let Some(key) = repo_key {
            query(format!(
                "UPDATE repository_content SET version_removed = ? WHERE {replaced_sql}"
            ))
            .bind(number)
            .bind(repository_id)
            .bind(task_id)
            .bind(key)
            .bind(key)
            .bind(task_id)
            .execute(&mut tx)
            .await?;
        }
        query(
            "INSERT INTO repository_content (repository_id, content_id, version_added) \
             SELECT ?, s.content_id, ? FROM sync_staging s WHERE s.task_id = ? AND NOT EXISTS \
             (SELECT 1 FROM repository_content rc WHERE rc.repository_id = ? \
              AND rc.content_id = s.content_id AND rc.version_removed IS NULL)",
        )
        .bind(repository_id)
        .bind(number)
        .bind(task_id)
        .bind(repository_id)
        .execute(&mut tx)
        .await?;
        query("DELETE FROM sync_staging WHERE task_id = ?")
            .bind(task_id)
            .execute(&mut tx)
            .await?;

        let base_id: Option<String> = match base_version {
            Some(b) => {
                query_scalar(
                    "SELECT id FROM repository_versions WHERE repository_id = ? AND number = ?",
                )
                .bind(repository_id)
                .bind(b)
                .fetch_optional(&mut tx)
                .await?
            }
            None => None,
        };
        let summary = summary_of(&mut tx, repository_id, number).await?;
        let t = now();
        query(
            "INSERT INTO repository_versions (id, repository_id, number, base_version_id, \
             complete, content_summary, pulp_created, pulp_last_updated) \
             VALUES (?, ?, ?, ?, TRUE, ?, ?, ?)",
        )
        .bind(new_id())
        .bind(repository_id)
        .bind(number)
        .bind(base_id)
        .bind(serde_json::to_string(&summary).expect("summary serializes"))
        .bind(&t)
        .bind(&t)
        .execute(&mut tx)
        .await?;
        query("UPDATE repositories SET next_version = ?, pulp_last_updated = ? WHERE id = ?")
            .bind(number + 1)
            .bind(&t)
            .bind(repository_id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        self.staging.take(task_id);
        self.changed(crate::events::Topic::Serving);
        Ok(Some(number))
    }

    /// Delete a version. A version that is not the latest folds its changes into the next one,
    /// so every other version keeps exactly its content; deleting the latest undoes its changes
    /// (the previous version becomes the latest). Publications of the version go too. The last
    /// remaining version cannot be deleted.
    pub async fn version_delete(&self, repository_id: &str, number: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let count: i64 = query_scalar(
            "SELECT count(*) FROM repository_versions WHERE repository_id = ? AND complete = TRUE",
        )
        .bind(repository_id)
        .fetch_one(&mut tx)
        .await?;
        if count <= 1 {
            return Err(StoreError::Conflict(
                "[PLP0011] Cannot delete repository version. Repositories must have at least \
                 one repository version."
                    .into(),
            ));
        }
        let version_id: String = query_scalar(
            "SELECT id FROM repository_versions WHERE repository_id = ? AND number = ?",
        )
        .bind(repository_id)
        .bind(number)
        .fetch_optional(&mut tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let next: Option<i64> = query_scalar(
            "SELECT min(number) FROM repository_versions WHERE repository_id = ? AND number > ? \
             AND complete = TRUE",
        )
        .bind(repository_id)
        .bind(number)
        .fetch_one(&mut tx)
        .await?;
        match next {
            Some(next) => {
                // No version lies between `number` and `next`, so moving the boundaries is
                // invisible to every remaining version; rows that then span nothing are dropped.
                for col in ["version_added", "version_removed"] {
                    query(format!(
                        "UPDATE repository_content SET {col} = ? WHERE repository_id = ? AND {col} = ?"
                    ))
                    .bind(next)
                    .bind(repository_id)
                    .bind(number)
                    .execute(&mut tx)
                    .await?;
                }
                query(
                    "DELETE FROM repository_content WHERE repository_id = ? \
                     AND version_removed = version_added",
                )
                .bind(repository_id)
                .execute(&mut tx)
                .await?;
            }
            None => {
                query(
                    "DELETE FROM repository_content WHERE repository_id = ? AND version_added = ?",
                )
                .bind(repository_id)
                .bind(number)
                .execute(&mut tx)
                .await?;
                query(
                    "UPDATE repository_content SET version_removed = NULL \
                     WHERE repository_id = ? AND version_removed = ?",
                )
                .bind(repository_id)
                .bind(number)
                .execute(&mut tx)
                .await?;
            }
        }
        query(
            "DELETE FROM published_files WHERE publication_id IN \
             (SELECT id FROM publications WHERE repository_version_id = ?)",
        )
        .bind(&version_id)
        .execute(&mut tx)
        .await?;
        query("DELETE FROM publications WHERE repository_version_id = ?")
            .bind(&version_id)
            .execute(&mut tx)
            .await?;
        query(
            "UPDATE distributions SET repository_version_id = NULL WHERE repository_version_id = ?",
        )
        .bind(&version_id)
        .execute(&mut tx)
        .await?;
        query("UPDATE repository_versions SET base_version_id = NULL WHERE base_version_id = ?")
            .bind(&version_id)
            .execute(&mut tx)
            .await?;
        query("DELETE FROM repository_versions WHERE id = ?")
            .bind(&version_id)
            .execute(&mut tx)
            .await?;
        if let Some(next) = next {
            let summary = summary_of(&mut tx, repository_id, next).await?;
            query(
                "UPDATE repository_versions SET content_summary = ?, pulp_last_updated = ? \
                 WHERE repository_id = ? AND number = ?",
            )
            .bind(serde_json::to_string(&summary).expect("summary serializes"))
            .bind(now())
            .bind(repository_id)
            .bind(next)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        self.changed(crate::events::Topic::Serving);
        Ok(())
    }

    /// Numbers of complete versions, newest first.
    pub async fn version_numbers(&self, repository_id: &str) -> Result<Vec<i64>> {
        Ok(query_scalar(
            "SELECT number FROM repository_versions WHERE repository_id = ? AND complete = TRUE \
             ORDER BY number DESC",
        )
        .bind(repository_id)
        .fetch_all(&self.read)
        .await?)
    }

    /// Which of `content_ids` are in a version.
    pub async fn version_contains(
        &self,
        repository_id: &str,
        number: i64,
        content_ids: &[String],
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for chunk in content_ids.chunks(400) {
            let mut qb: Builder =
                Builder::new("SELECT content_id FROM repository_content WHERE repository_id = ");
            qb.push_bind(repository_id)
                .push(" AND version_added <= ")
                .push_bind(number)
                .push(" AND (version_removed IS NULL OR version_removed > ")
                .push_bind(number)
                .push(") AND content_id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id);
            }
            qb.push(")");
            let rows: Vec<String> = qb.build_query_scalar().fetch_all(&self.read).await?;
            out.extend(rows);
        }
        Ok(out)
    }
}

async fn summary_of(tx: &mut Tx, repository_id: &str, number: i64) -> Result<Summary> {
    let mut s = Summary::default();
    let queries = [
        (
            "SELECT c.pulp_type, count(*) FROM repository_content rc JOIN content c \
             ON c.id = rc.content_id WHERE rc.repository_id = ? AND rc.version_added = ? \
             GROUP BY c.pulp_type",
            &mut s.added,
        ),
        (
            "SELECT c.pulp_type, count(*) FROM repository_content rc JOIN content c \
             ON c.id = rc.content_id WHERE rc.repository_id = ? AND rc.version_removed = ? \
             GROUP BY c.pulp_type",
            &mut s.removed,
        ),
    ];
    for (sql, map) in queries {
        let rows: Vec<(String, i64)> = query_as(sql)
            .bind(repository_id)
            .bind(number)
            .fetch_all(&mut *tx)
            .await?;
        map.extend(rows);
    }
    let rows: Vec<(String, i64)> = query_as(
        "SELECT c.pulp_type, count(*) FROM repository_content rc JOIN content c \
         ON c.id = rc.content_id WHERE rc.repository_id = ? AND rc.version_added <= ? \
         AND (rc.version_removed IS NULL OR rc.version_removed > ?) GROUP BY c.pulp_type",
    )
    .bind(repository_id)
    .bind(number)
    .bind(number)
    .fetch_all(&mut *tx)
    .await?;
    s.present.extend(rows);
    Ok(s)
}

impl Db {
    /// Ids of the content in a version (for copies; a version's ids fit in memory).
    pub async fn version_content_ids(
        &self,
        repository_id: &str,
        number: i64,
    ) -> Result<Vec<String>> {
        Ok(query_scalar(
            "SELECT content_id FROM repository_content WHERE repository_id = ? \
             AND version_added <= ? AND (version_removed IS NULL OR version_removed > ?)",
        )
        .bind(repository_id)
        .bind(number)
        .bind(number)
        .fetch_all(&self.read)
        .await?)
    }
}

impl Db {
    /// Ids of the units a task has staged.
    pub async fn staged_content_ids(&self, task_id: &str) -> Result<Vec<String>> {
        Ok(
            query_scalar("SELECT content_id FROM sync_staging WHERE task_id = ?")
                .bind(task_id)
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// Top-level fields of the staged units of one type: (id, the fields' text in order,
    /// empty where absent).
    pub async fn staged_unit_fields(
        &self,
        task_id: &str,
        pulp_type: &str,
        fields: &[&str],
    ) -> Result<Vec<(String, Vec<String>)>> {
        const SEP: char = '\u{1}';
        let b = self.backend();
        let mut q = Builder::new("SELECT c.id, ");
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                q.push(" || ").push_bind(SEP.to_string()).push(" || ");
            }
            q.push(format!("COALESCE({}, '')", b.json_field("c.data", f)));
        }
        if fields.is_empty() {
            q.push("''");
        }
        q.push(" FROM sync_staging s JOIN content c ON c.id = s.content_id WHERE s.task_id = ")
            .push_bind(task_id)
            .push(" AND c.pulp_type = ")
            .push_bind(pulp_type);
        let rows: Vec<(String, String)> = q.build_query_as().fetch_all(&self.read).await?;
        Ok(rows
            .into_iter()
            .map(|(id, joined)| (id, joined.split(SEP).map(str::to_string).collect()))
            .collect())
    }
}
