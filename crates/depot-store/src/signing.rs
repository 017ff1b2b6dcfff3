//! Signing services (`signing_services`).

use sqlx::FromRow;

use crate::sql::{query_as, query_scalar};

use crate::{Db, Result, StoreError, new_id, now};

#[derive(Clone, Debug, FromRow)]
pub struct SigningServiceRow {
    pub id: String,
    pub name: String,
    pub pulp_type: String,
    pub script: String,
    pub pubkey_fingerprint: String,
    pub public_key: String,
    pub pulp_created: String,
    pub pulp_last_updated: String,
}

pub const SIGNING_SERVICE_COLUMNS: &str = "id, name, pulp_type, script, pubkey_fingerprint, \
     public_key, pulp_created, pulp_last_updated";

impl Db {
    /// Add a signing service, or replace the one with the same name; returns its id.
    pub async fn signing_service_put(
        &self,
        name: &str,
        pulp_type: &str,
        script: &str,
        fingerprint: &str,
        public_key: &str,
    ) -> Result<String> {
        let t = now();
        let id: String = query_scalar(
            "INSERT INTO signing_services (id, name, pulp_type, script, pubkey_fingerprint, \
             public_key, pulp_created, pulp_last_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET pulp_type = excluded.pulp_type, \
             script = excluded.script, pubkey_fingerprint = excluded.pubkey_fingerprint, \
             public_key = excluded.public_key, pulp_last_updated = excluded.pulp_last_updated \
             RETURNING id",
        )
        .bind(new_id())
        .bind(name)
        .bind(pulp_type)
        .bind(script)
        .bind(fingerprint)
        .bind(public_key)
        .bind(&t)
        .bind(&t)
        .fetch_one(&self.write)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(id)
    }

    pub async fn signing_service_get(&self, id: &str) -> Result<Option<SigningServiceRow>> {
        Ok(query_as(format!(
            "SELECT {SIGNING_SERVICE_COLUMNS} FROM signing_services WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }
}
