//! Image manifests and indexes (Docker schema 2 and OCI): their media type, what they
//! reference, and the fields Pulp shows for them.

use serde_json::{Map, Value, json};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_V1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// The manifest types a registry serves and accepts, for `Accept` headers sent upstream.
pub const ALL_TYPES: &[&str] = &[OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// A content descriptor (`mediaType`, `digest`, `size`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    pub urls: bool,
}

/// What a pushed or synced manifest is.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub media_type: String,
    pub schema_version: i64,
    /// Image manifests: the config blob.
    pub config: Option<Descriptor>,
    /// Image manifests: the layers.
    pub layers: Vec<Descriptor>,
    /// Indexes and lists: the manifests they list, with their platform.
    pub manifests: Vec<(Descriptor, Option<Value>)>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub annotations: Map<String, Value>,
}

impl Parsed {
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }

    /// Digests of the blobs it needs: config first, then layers (foreign ones left out: they
    /// are fetched from their own URLs).
    pub fn blob_digests(&self) -> Vec<String> {
        self.config
            .iter()
            .chain(self.layers.iter().filter(|l| !l.urls))
            .map(|d| d.digest.clone())
            .collect()
    }

    /// `artifactType` as the referrers API reports it: the manifest's own, else its config's
    /// media type (for image manifests).
    pub fn referrer_artifact_type(&self) -> Option<String> {
        self.artifact_type
            .clone()
            .or_else(|| self.config.as_ref().map(|c| c.media_type.clone()))
    }
}

/// `sha256:<64 hex>` (the only algorithm depot stores by).
pub fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A digest of another algorithm depot cannot verify, or no digest at all.
pub fn is_digest(d: &str) -> bool {
    match d.split_once(':') {
        Some((algo, hex)) => {
            !algo.is_empty()
                && algo
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && !hex.is_empty()
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b))
        }
        None => false,
    }
}

fn descriptor(v: &Value, what: &str) -> Result<Descriptor, String> {
    let digest = v["digest"]
        .as_str()
        .ok_or_else(|| format!("{what} has no digest"))?;
    if !is_sha256_digest(digest) {
        return Err(format!(
            "{what} has an invalid or unsupported digest {digest:?}"
        ));
    }
    let size = v["size"]
        .as_i64()
        .filter(|s| *s >= 0)
        .ok_or_else(|| format!("{what} has no valid size"))?;
    let media_type = v["mediaType"]
        .as_str()
        .ok_or_else(|| format!("{what} has no mediaType"))?
        .to_string();
    Ok(Descriptor {
        media_type,
        digest: digest.to_string(),
        size,
        urls: v["urls"].as_array().is_some_and(|u| !u.is_empty()),
    })
}

/// Parse a manifest's bytes; `content_type` is the request's, used when the manifest names no
/// media type itself. Errors say what is wrong (answered as `MANIFEST_INVALID`).
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() {
        return Err("a manifest is a JSON object".into());
    }
    let schema_version = v["schemaVersion"].as_i64().unwrap_or(0);
    let declared = v["mediaType"].as_str().map(str::to_string);
    let media_type = match declared {
        Some(t) => t,
        None => match content_type.map(|c| c.split(';').next().unwrap_or("").trim()) {
            Some(c)
                if !c.is_empty() && c != "application/json" && c != "application/octet-stream" =>
            {
                c.to_string()
            }
            _ => {
                if v.get("manifests").is_some() {
                    OCI_INDEX.to_string()
                } else if v.get("config").is_some() {
                    match v["config"]["mediaType"].as_str() {
                        Some(DOCKER_CONFIG) => DOCKER_MANIFEST.to_string(),
                        _ => OCI_MANIFEST.to_string(),
                    }
                } else {
                    DOCKER_V1.to_string()
                }
            }
        },
    };
    let mut p = Parsed {
        media_type: media_type.clone(),
        schema_version,
        config: None,
        layers: Vec::new(),
        manifests: Vec::new(),
        subject: None,
        artifact_type: v["artifactType"].as_str().map(str::to_string),
        annotations: v["annotations"].as_object().cloned().unwrap_or_default(),
    };
    match media_type.as_str() {
        DOCKER_V1 | DOCKER_V1_SIGNED => {
            return Err("Pushing manifests of the version V1 is not supported.".into());
        }
        DOCKER_MANIFEST | OCI_MANIFEST => {
            if schema_version != 2 {
                return Err("schemaVersion must be 2".into());
            }
            p.config = Some(descriptor(&v["config"], "the config")?);
            let layers = v["layers"]
                .as_array()
                .ok_or("an image manifest needs a layers list")?;
            for (i, l) in layers.iter().enumerate() {
                p.layers.push(descriptor(l, &format!("layer {i}"))?);
            }
        }
        DOCKER_LIST | OCI_INDEX => {
            if schema_version != 2 {
                return Err("schemaVersion must be 2".into());
            }
            let list = v["manifests"]
                .as_array()
                .ok_or("an index needs a manifests list")?;
            for (i, m) in list.iter().enumerate() {
                let d = descriptor(m, &format!("manifest {i}"))?;
                if media_type == DOCKER_LIST && m.get("platform").is_none() {
                    return Err(format!("manifest {i} of a manifest list has no platform"));
                }
                p.manifests.push((d, m.get("platform").cloned()));
            }
        }
        other => return Err(format!("unsupported manifest media type {other:?}")),
    }
    if let Some(s) = v.get("subject") {
        p.subject = Some(descriptor(s, "the subject")?);
    }
    Ok(p)
}

/// Pulp's `type` of a manifest.
fn manifest_kind(p: &Parsed) -> &'static str {
    if p.is_index() {
        return "index";
    }
    match p.config.as_ref().map(|c| c.media_type.as_str()) {
        Some(DOCKER_CONFIG) | Some(OCI_CONFIG) => "image",
        Some("application/vnd.cncf.helm.config.v1+json") => "helm",
        Some("application/vnd.dev.cosign.simplesigning.v1+json") => "cosign_signature",
        _ => "artifact",
    }
}

/// The fields Pulp shows for a manifest (besides digest and the href lists, which the caller
/// adds once it knows the content ids): from the manifest and, for images, their config.
pub fn fields(p: &Parsed, config: Option<&Value>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("schema_version".into(), json!(p.schema_version));
    m.insert("media_type".into(), json!(p.media_type));
    m.insert("annotations".into(), Value::Object(p.annotations.clone()));
    let labels = config
        .and_then(|c| c["config"]["Labels"].as_object().cloned())
        .unwrap_or_default();
    m.insert("labels".into(), Value::Object(labels));
    m.insert("is_bootable".into(), json!(false));
    m.insert("is_flatpak".into(), json!(false));
    m.insert("type".into(), json!(manifest_kind(p)));
    m.insert(
        "architecture".into(),
        json!(config.and_then(|c| c["architecture"].as_str())),
    );
    m.insert("os".into(), json!(config.and_then(|c| c["os"].as_str())));
    m.insert(
        "compressed_image_size".into(),
        if p.is_index() {
            Value::Null
        } else {
            json!(p.layers.iter().map(|l| l.size).sum::<i64>())
        },
    );
    if let Some(t) = p.referrer_artifact_type() {
        m.insert("artifact_type".into(), json!(t));
    }
    if let Some(s) = &p.subject {
        m.insert("subject".into(), json!(s.digest));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", hex::encode([n; 32]))
    }

    #[test]
    fn image_manifests_name_their_blobs() {
        let body = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": d(1), "size": 10},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d(2), "size": 20},
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d(3), "size": 30,
                 "urls": ["https://example.invalid/l"]}
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d(9), "size": 5}
        });
        let p = parse(body.to_string().as_bytes(), None).unwrap();
        assert_eq!(p.blob_digests(), vec![d(1), d(2)]);
        assert_eq!(p.subject.as_ref().unwrap().digest, d(9));
        let f = fields(
            &p,
            Some(
                &json!({"architecture": "amd64", "os": "linux", "config": {"Labels": {"a": "b"}}}),
            ),
        );
        assert_eq!(f["compressed_image_size"], 50);
        assert_eq!(f["architecture"], "amd64");
        assert_eq!(f["labels"]["a"], "b");
        assert_eq!(f["type"], "image");
    }

    #[test]
    fn media_types_are_inferred_when_absent() {
        let list = json!({"schemaVersion": 2, "manifests": []});
        assert_eq!(
            parse(list.to_string().as_bytes(), None).unwrap().media_type,
            OCI_INDEX
        );
        let docker = json!({"schemaVersion": 2,
            "config": {"mediaType": DOCKER_CONFIG, "digest": d(1), "size": 1}, "layers": []});
        assert_eq!(
            parse(docker.to_string().as_bytes(), None)
                .unwrap()
                .media_type,
            DOCKER_MANIFEST
        );
        assert_eq!(
            parse(list.to_string().as_bytes(), Some(DOCKER_LIST))
                .unwrap()
                .media_type,
            DOCKER_LIST
        );
    }

    #[test]
    fn malformed_manifests_are_refused_with_a_reason() {
        for (body, why) in [
            ("[]", "JSON object"),
            ("{", "not JSON"),
            (r#"{"schemaVersion":1,"fsLayers":[]}"#, "V1"),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#,
                "config",
            ),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:12","size":1},"layers":[]}"#,
                "digest",
            ),
            (
                r#"{"schemaVersion":2,"mediaType":"text/plain"}"#,
                "unsupported",
            ),
        ] {
            let e = parse(body.as_bytes(), None).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
    }

    #[test]
    fn digests() {
        assert!(is_sha256_digest(&d(1)));
        assert!(!is_sha256_digest("sha256:ABC"));
        assert!(is_digest("sha512:abc"));
        assert!(!is_digest("latest"));
    }
}
