//! Signing services, as in Pulp: an administrator registers a script that signs a file with
//! a key depot never sees. depot calls `<script> <file>` with `PULP_SIGNING_KEY_FINGERPRINT`
//! set; the script prints `{"file": "<file>", "signature": "<detached ASCII-armored
//! signature file>"}`.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::CoreError;
use crate::{Depot, href};
use depot_store::signing::SigningServiceRow;

/// The only kind depot offers: detached, ASCII-armored signatures (repomd.xml.asc, Release.gpg).
pub const DETACHED: &str = "core.AsciiArmoredDetachedSigningService";

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

pub fn signing_service_href(id: &str) -> String {
    format!("{}signing-services/{id}/", href::API_ROOT)
}

pub fn render(row: &SigningServiceRow) -> Value {
    json!({
        "pulp_href": signing_service_href(&row.id),
        "prn": href::prn("core.signingservice", &row.id),
        "pulp_created": row.pulp_created,
        "pulp_last_updated": row.pulp_last_updated,
        "name": row.name,
        "public_key": row.public_key,
        "pubkey_fingerprint": row.pubkey_fingerprint,
        "script": row.script,
    })
}

/// Run the service's script over `file`; returns the armored signature.
pub async fn run_script(script: &str, fingerprint: &str, file: &Path) -> Result<Vec<u8>, String> {
    let mut cmd = tokio::process::Command::new(script);
    cmd.arg(file)
        .env("PULP_SIGNING_KEY_FINGERPRINT", fingerprint)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("the signing script {script} did not finish within 2 minutes"))?
        .map_err(|e| format!("cannot run the signing script {script}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the signing script {script} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let answer: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        format!(
            "the signing script {script} must print {{\"file\": ..., \"signature\": ...}}, it printed: {}",
            String::from_utf8_lossy(&out.stdout).trim()
        )
    })?;
    let sig_path = answer
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the signing script {script} named no signature file"))?;
    let sig = tokio::fs::read(sig_path)
        .await
        .map_err(|e| format!("reading the signature {sig_path}: {e}"))?;
    let _ = tokio::fs::remove_file(sig_path).await;
    if !sig.starts_with(b"-----BEGIN PGP SIGNATURE-----") {
        return Err(format!(
            "the signing script {script} did not make an ASCII-armored signature"
        ));
    }
    Ok(sig)
}

/// Filters and orderings of the signing service list.
pub fn list_spec() -> crate::resources::list::ListSpec {
    use crate::resources::list::{FilterDef, ListSpec, Op, text_filters};
    ListSpec::new("id", "pulp_created")
        .filters(text_filters("name", "name"))
        .filter(FilterDef::new("pulp_type", "pulp_type", Op::Exact))
        .order(&[("pulp_created", "pulp_created"), ("name", "name")])
}

impl Depot {
    /// Sign `bytes` with the signing service `id`: (detached signature, public key).
    pub async fn sign_detached(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> Result<(Vec<u8>, String), CoreError> {
        let service = self
            .db
            .signing_service_get(id)
            .await?
            .ok_or_else(|| CoreError::NotFound("the signing service was deleted".into()))?;
        let sig = self
            .sign_with(&service.script, &service.pubkey_fingerprint, bytes)
            .await?;
        Ok((sig, service.public_key))
    }

    /// Write `bytes` to a private temp file and run `script` over it.
    async fn sign_with(
        &self,
        script: &str,
        fingerprint: &str,
        bytes: &[u8],
    ) -> Result<Vec<u8>, CoreError> {
        let dir = self
            .blobs
            .tmp_dir()
            .join(format!("sign-{}", depot_store::new_id()));
        let io = |e: std::io::Error| CoreError::Internal(format!("signing: {e}"));
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        let file = dir.join("repomd.xml");
        let result = match tokio::fs::write(&file, bytes).await {
            Ok(()) => run_script(script, fingerprint, &file)
                .await
                .map_err(CoreError::Internal),
            Err(e) => Err(io(e)),
        };
        let _ = tokio::fs::remove_dir_all(&dir).await;
        result
    }

    /// Register (or replace) a signing service after checking its script signs.
    pub async fn add_signing_service(
        &self,
        name: &str,
        script: &str,
        fingerprint: &str,
        public_key: &str,
    ) -> Result<SigningServiceRow, CoreError> {
        if !public_key.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            return Err(CoreError::Internal(
                "the public key must be an ASCII-armored OpenPGP public key".into(),
            ));
        }
        self.sign_with(script, fingerprint, b"depot signing service check\n")
            .await?;
        let id = self
            .db
            .signing_service_put(name, DETACHED, script, fingerprint, public_key)
            .await?;
        self.db
            .signing_service_get(&id)
            .await?
            .ok_or_else(|| CoreError::Internal("the signing service vanished".into()))
    }

    pub async fn signing_service_list(
        &self,
        params: &[(String, String)],
    ) -> Result<crate::resources::Listed, CoreError> {
        let q = list_spec().build(self, params)?;
        let page = q
            .run::<SigningServiceRow>(
                &self.db,
                depot_store::signing::SIGNING_SERVICE_COLUMNS,
                "signing_services",
            )
            .await?;
        Ok(crate::resources::Listed::of(&q, &page, render))
    }
}
