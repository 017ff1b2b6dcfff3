//! The container registry's records: namespaces, content pushed to a repository but in none of
//! its versions yet, and shared settings (the sealed token-signing key).

use sqlx::FromRow;

use crate::content::{CONTENT_FROM, CONTENT_SELECT, ContentRow};
use crate::sql::{Builder, query, query_as, query_scalar};
use crate::{Db, Result, new_id, now};

#[derive(Clone, Debug, FromRow)]
pub struct NamespaceRow {
    pub id: String,
    pub name: String,
    pub pulp_labels: String,
    pub pulp_created: String,
    pub pulp_last_updated: String,
}

const NAMESPACE_COLUMNS: &str = "id, name, pulp_labels, pulp_created, pulp_last_updated";

impl Db {
    /// A shared setting.
    pub async fn setting_get(&self, key: &str) -> Result<Option<String>> {
        Ok(query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.read)
            .await?)
    }

    /// Store `value` under `key` unless another process already did; returns the value kept.
    pub async fn setting_init(&self, key: &str, value: &str) -> Result<String> {
        query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.write)
            .await?;
        Ok(query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_one(&self.write)
            .await?)
    }

    /// Every setting whose key starts with `prefix`: (key, value).
    pub async fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        Ok(
            query_as("SELECT key, value FROM settings WHERE key LIKE ? ORDER BY key")
                .bind(format!("{prefix}%"))
                .fetch_all(&self.write)
                .await?,
        )
    }

    /// Replace settings' values (a key rotation re-sealing them).
    pub async fn settings_replace(&self, values: &[(String, String)]) -> Result<()> {
        for (k, v) in values {
            query("UPDATE settings SET value = ? WHERE key = ?")
                .bind(v)
                .bind(k)
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    pub async fn namespace_by_name(&self, name: &str) -> Result<Option<NamespaceRow>> {
        Ok(query_as(format!(
            "SELECT {NAMESPACE_COLUMNS} FROM container_namespaces WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.read)
        .await?)
    }

    pub async fn namespace_get(&self, id: &str) -> Result<Option<NamespaceRow>> {
        Ok(query_as(format!(
            "SELECT {NAMESPACE_COLUMNS} FROM container_namespaces WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    /// The namespace called `name`, created if missing; `true` when this call created it.
    pub async fn namespace_ensure(&self, name: &str) -> Result<(NamespaceRow, bool)> {
        let t = now();
        let id = new_id();
        let inserted = query(
            "INSERT INTO container_namespaces (id, name, pulp_created, pulp_last_updated) \
             VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&id)
        .bind(name)
        .bind(&t)
        .bind(&t)
        .execute(&self.write)
        .await?
        .rows_affected()
            == 1;
        let row: NamespaceRow = query_as(format!(
            "SELECT {NAMESPACE_COLUMNS} FROM container_namespaces WHERE name = ?"
        ))
        .bind(name)
        .fetch_one(&self.write)
        .await?;
        Ok((row, inserted))
    }

    pub async fn namespace_delete(&self, id: &str) -> Result<()> {
        query("DELETE FROM container_namespaces WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Remember content pushed to a repository ahead of the version that will hold it.
    pub async fn container_pending_add(&self, repository_id: &str, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let t = now();
        for chunk in ids.chunks(300) {
            let mut qb: Builder =
                Builder::new("INSERT INTO container_pending (repository_id, content_id, added) ");
            qb.push_values(chunk, |mut b, id| {
                b.push_bind(repository_id).push_bind(id).push_bind(&t);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&self.write).await?;
        }
        Ok(())
    }

    /// Whether `content_id` was pushed to the repository (and is in none of its versions yet).
    pub async fn container_pending_has(
        &self,
        repository_id: &str,
        content_id: &str,
    ) -> Result<bool> {
        Ok(query_scalar::<i64>(
            "SELECT count(*) FROM container_pending WHERE repository_id = ? AND content_id = ?",
        )
        .bind(repository_id)
        .bind(content_id)
        .fetch_one(&self.read)
        .await?
            > 0)
    }

    /// Forget pending content that is now in a version.
    pub async fn container_pending_remove(
        &self,
        repository_id: &str,
        ids: &[String],
    ) -> Result<()> {
        for chunk in ids.chunks(300) {
            let mut qb: Builder =
                Builder::new("DELETE FROM container_pending WHERE repository_id = ");
            qb.push_bind(repository_id).push(" AND content_id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id);
            }
            qb.push(")");
            qb.build().execute(&self.write).await?;
        }
        Ok(())
    }

    /// A unit by its identity.
    pub async fn content_by_key(
        &self,
        pulp_type: &str,
        natural_key: &str,
    ) -> Result<Option<ContentRow>> {
        Ok(query_as(format!(
            "SELECT {CONTENT_SELECT} FROM {CONTENT_FROM} WHERE c.pulp_type = ? AND c.natural_key = ?"
        ))
        .bind(pulp_type)
        .bind(natural_key)
        .fetch_optional(&self.read)
        .await?)
    }
}

impl Db {
    /// The repository called `name`, of any type.
    pub async fn repository_by_name(
        &self,
        name: &str,
    ) -> Result<Option<crate::records::RepositoryRow>> {
        let id: Option<String> = query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.write)
            .await?;
        match id {
            Some(id) => self.repository_get(&id).await,
            None => Ok(None),
        }
    }
}
