//! Chunked uploads (`/uploads/`): a file sent in parts, assembled and hashed on commit.
//!
//! Chunks are written at their offsets into one sparse file under `<data>/upload/`.

use std::path::PathBuf;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use depot_store::{Digests, TempBlob};

use super::list::{FilterDef, ListSpec, Op};
use super::{Listed, Outcome, not_found};
use crate::Depot;
use crate::core_tasks::UPLOAD_COMMIT;
use crate::error::{CoreError, Result};
use crate::href;
use crate::tasks::NewTask;
use depot_store::records::UploadRow;
use depot_store::{ExpectedDigests, new_id};

pub fn render(u: &UploadRow, chunks: Option<&[(i64, i64)]>) -> Value {
    let mut v = json!({
        "pulp_href": href::upload(&u.id),
        "prn": href::prn("core.upload", &u.id),
        "pulp_created": u.pulp_created,
        "pulp_last_updated": u.pulp_last_updated,
        "size": u.size,
    });
    if let Some(c) = chunks {
        v["chunks"] = Value::from(
            c.iter()
                .map(|(o, s)| json!({"offset": o, "size": s}))
                .collect::<Vec<_>>(),
        );
    }
    v
}

pub fn list_spec() -> ListSpec {
    ListSpec::new("id", "pulp_created")
        .filter(FilterDef::new("size", "size", Op::Int))
        .order(&[("pulp_created", "pulp_created"), ("size", "size")])
}

/// Parse `bytes <start>-<end>/<total|*>`.
pub fn parse_content_range(h: &str) -> Option<(u64, u64)> {
    let rest = h.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    if total != "*" && total.parse::<u64>().is_err() {
        return None;
    }
    let (a, b) = range.split_once('-')?;
    let (a, b) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b).then_some((a, b))
}

impl Depot {
    fn upload_path(&self, id: &str) -> PathBuf {
        self.config.data_dir.join("upload").join(id)
    }

    async fn upload_row(&self, id: &str) -> Result<UploadRow> {
        self.db
            .upload_get(id)
            .await?
            .ok_or_else(|| not_found("Upload"))
    }

    pub async fn upload_create(&self, body: &Map<String, Value>) -> Result<Value> {
        for k in body.keys() {
            if k != "size" {
                return Err(CoreError::invalid(k, "Unexpected field"));
            }
        }
        let size = match body.get("size") {
            None => return Err(CoreError::invalid("size", "This field is required.")),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|s| *s >= 0)
                .ok_or_else(|| CoreError::invalid("size", "A valid integer is required."))?,
        };
        let id = new_id();
        tokio::fs::create_dir_all(self.config.data_dir.join("upload")).await?;
        tokio::fs::File::create(self.upload_path(&id)).await?;
        self.db.upload_insert(&id, size).await?;
        Ok(render(&self.upload_row(&id).await?, None))
    }

    pub async fn upload_read(&self, id: &str) -> Result<Value> {
        let u = self.upload_row(id).await?;
        let chunks = self.db.upload_chunks(id).await?;
        Ok(render(&u, Some(&chunks)))
    }

    pub async fn upload_list(
        &self,
        params: &[(String, String)],
        visible: &crate::rbac::Visible,
    ) -> Result<Listed> {
        let mut q = list_spec().build(self, params)?;
        super::restrict(&mut q, "id", visible);
        let page = q
            .run::<UploadRow>(
                &self.db,
                "id, size, completed, pulp_created, pulp_last_updated",
                "uploads",
            )
            .await?;
        Ok(Listed::of(&q, &page, |u| render(u, None)))
    }

    /// Write one chunk (`PUT <upload>` with `Content-Range`), received into `chunk`.
    pub async fn upload_chunk(
        &self,
        id: &str,
        content_range: Option<&str>,
        chunk: &TempBlob,
        digests: &Digests,
        sha256: Option<&str>,
    ) -> Result<Value> {
        let u = self.upload_row(id).await?;
        let (start, end) = content_range
            .and_then(parse_content_range)
            .ok_or_else(|| CoreError::non_field("Invalid or missing content range header."))?;
        if end - start + 1 != digests.size {
            return Err(CoreError::non_field(
                "Chunk size does not match content range.",
            ));
        }
        if end as i64 > u.size - 1 {
            return Err(CoreError::non_field(
                "End byte is greater than upload size.",
            ));
        }
        if let Some(want) = sha256.filter(|s| !s.is_empty())
            && !want.eq_ignore_ascii_case(&digests.sha256)
        {
            return Err(CoreError::InvalidList(
                "Checksum does not match chunk upload.".into(),
            ));
        }
        let src = chunk
            .path()
            .ok_or_else(|| CoreError::Internal("chunk file vanished".into()))?;
        let mut from = tokio::fs::File::open(src).await?;
        let mut to = tokio::fs::OpenOptions::new()
            .write(true)
            .open(self.upload_path(id))
            .await?;
        to.seek(std::io::SeekFrom::Start(start)).await?;
        tokio::io::copy(&mut from, &mut to).await?;
        to.flush().await?;
        self.db
            .upload_add_chunk(id, start as i64, digests.size as i64)
            .await?;
        Ok(render(&self.upload_row(id).await?, None))
    }

    pub async fn upload_commit(
        &self,
        id: &str,
        body: &Map<String, Value>,
        user: Option<i64>,
    ) -> Result<Outcome> {
        self.upload_row(id).await?;
        for k in body.keys() {
            if k != "sha256" {
                return Err(CoreError::invalid(k, "Unexpected field"));
            }
        }
        let sha = body
            .get("sha256")
            .and_then(Value::as_str)
            .ok_or_else(|| CoreError::invalid("sha256", "This field is required."))?;
        let task = self
            .dispatch(
                NewTask::new(UPLOAD_COMMIT, json!({"upload": id, "sha256": sha}))
                    .exclusive(href::prn("core.upload", id))
                    .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    pub async fn upload_delete(&self, id: &str) -> Result<()> {
        self.upload_row(id).await?;
        self.db.upload_delete(id).await?;
        let _ = tokio::fs::remove_file(self.upload_path(id)).await;
        Ok(())
    }

    /// Assemble an upload into an artifact: every byte must have been sent, and the whole must
    /// match `sha256` when given. The upload is removed afterwards.
    pub async fn upload_to_artifact(&self, id: &str, sha256: Option<&str>) -> Result<String> {
        let u = self.upload_row(id).await?;
        let chunks = self.db.upload_chunks(id).await?;
        let mut covered = 0i64;
        for (offset, size) in &chunks {
            if *offset > covered {
                break;
            }
            covered = covered.max(offset + size);
        }
        if covered < u.size {
            return Err(CoreError::non_field(format!(
                "The upload is incomplete: {covered} of {} bytes were sent.",
                u.size
            )));
        }
        let expected = ExpectedDigests {
            sha256: sha256.map(str::to_string),
            size: Some(u.size as u64),
            ..Default::default()
        };
        let mut blob = self.blobs.create_temp_all().await?;
        let mut f = tokio::fs::File::open(self.upload_path(id)).await?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = u.size as u64;
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = f.read(&mut buf[..want]).await?;
            if n == 0 {
                break;
            }
            blob.write(&buf[..n]).await?;
            left -= n as u64;
        }
        let digests = blob.finish().await?;
        if let Err(m) = expected.verify(&digests) {
            let algo = m.split(' ').next().unwrap_or("sha256");
            return Err(CoreError::non_field(format!(
                "The {algo} checksum did not match."
            )));
        }
        self.blobs.commit(blob, &digests.sha256).await?;
        let artifact = self.db.artifact_insert(&digests).await?;
        self.db.upload_delete(id).await?;
        let _ = tokio::fs::remove_file(self.upload_path(id)).await;
        Ok(artifact)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 0-99/200"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 100-199/*"), Some((100, 199)));
        assert_eq!(parse_content_range("bytes 5-1/*"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }
}
