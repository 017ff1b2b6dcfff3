//! Artifacts: stored files, identified by sha256.

use serde_json::{Value, json};

use super::list::{FilterDef, ListSpec, Op};
use super::{Listed, not_found};
use crate::Depot;
use crate::error::{CoreError, Result};
use crate::href;
use depot_store::records::{ARTIFACT_COLUMNS, ArtifactRow};
use depot_store::{BlobStore, Digests, ExpectedDigests, TempBlob};

pub fn render(a: &ArtifactRow) -> Value {
    json!({
        "pulp_href": href::artifact(&a.id),
        "prn": href::prn("core.artifact", &a.id),
        "pulp_created": a.pulp_created,
        "pulp_last_updated": a.pulp_last_updated,
        "file": BlobStore::file_name(&a.sha256),
        "size": a.size,
        "md5": a.md5,
        "sha1": a.sha1,
        "sha224": a.sha224,
        "sha256": a.sha256,
        "sha384": a.sha384,
        "sha512": a.sha512,
    })
}

pub fn list_spec() -> ListSpec {
    ListSpec::new("id", "pulp_created")
        .filter(FilterDef::new("sha256", "sha256", Op::Exact))
        .filter(FilterDef::new("sha224", "sha224", Op::Exact))
        .filter(FilterDef::new("sha384", "sha384", Op::Exact))
        .filter(FilterDef::new("sha512", "sha512", Op::Exact))
        .filter(FilterDef::new("md5", "md5", Op::Exact))
        .filter(FilterDef::new("sha1", "sha1", Op::Exact))
        .order(&[
            ("pulp_created", "pulp_created"),
            ("pulp_last_updated", "pulp_last_updated"),
            ("size", "size"),
            ("sha256", "sha256"),
        ])
}

impl Depot {
    pub async fn artifact_list(&self, params: &[(String, String)]) -> Result<Listed> {
        let q = list_spec().build(self, params)?;
        let page = q
            .run::<ArtifactRow>(&self.db, ARTIFACT_COLUMNS, "artifacts")
            .await?;
        Ok(Listed::of(&q, &page, render))
    }

    pub async fn artifact_read(&self, id: &str) -> Result<Value> {
        let a = self
            .db
            .artifact_get(id)
            .await?
            .ok_or_else(|| not_found("Artifact"))?;
        Ok(render(&a))
    }

    /// Store an uploaded file as an artifact (`POST /artifacts/`), checking the digests and
    /// size the client gave.
    pub async fn artifact_create(
        &self,
        blob: TempBlob,
        digests: Digests,
        expected: &ExpectedDigests,
    ) -> Result<Value> {
        if let Err(msg) = expected.verify(&digests) {
            let msg = if msg.starts_with("size") {
                "The size did not match actual size of file.".to_string()
            } else {
                let algo = msg.split(' ').next().unwrap_or("sha256");
                format!("The {algo} checksum did not match.")
            };
            return Err(CoreError::non_field(msg));
        }
        if self.db.artifact_by_sha256(&digests.sha256).await?.is_some() {
            return Err(CoreError::non_field(format!(
                "Artifact with sha256 checksum of '{}' already exists.",
                digests.sha256
            )));
        }
        self.blobs.commit(blob, &digests.sha256).await?;
        let id = self.db.artifact_insert(&digests).await?;
        self.artifact_read(&id).await
    }
}
