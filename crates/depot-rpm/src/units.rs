//! Content units of the rpm type, built from parsed metadata (sync) or a package header
//! (upload).
//!
//! Each unit's `data` carries the fields the API shows plus `repo_key`, the value that must
//! be unique within a repository version (Pulp's `repo_key_fields`): a newer unit with the
//! same key replaces the older one.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use depot_store::ExpectedDigests;
use depot_store::content::{NewContentArtifact, NewUnit, RemoteSource};

use crate::modules::Document;
use crate::packages::Package;
use crate::records::Element;

pub const PACKAGE: &str = "rpm.package";
pub const ADVISORY: &str = "rpm.advisory";
pub const MODULEMD: &str = "rpm.modulemd";
pub const MODULEMD_DEFAULTS: &str = "rpm.modulemd_defaults";
pub const MODULEMD_OBSOLETE: &str = "rpm.modulemd_obsolete";
pub const PACKAGE_GROUP: &str = "rpm.packagegroup";
pub const PACKAGE_CATEGORY: &str = "rpm.packagecategory";
pub const PACKAGE_ENVIRONMENT: &str = "rpm.packageenvironment";
pub const PACKAGE_LANGPACKS: &str = "rpm.packagelangpacks";
pub const REPO_METADATA_FILE: &str = "rpm.repo_metadata_file";

/// Kinds of stored fragments (`content_metadata.kind`).
pub const PRIMARY: &str = "primary";
pub const FILELISTS: &str = "filelists";
pub const OTHER: &str = "other";
pub const UPDATEINFO: &str = "updateinfo";
pub const COMPS: &str = "comps";
pub const MODULES: &str = "modules";

/// The key prefix filelists and other entries use to find their package.
pub fn package_key_prefix(pkgid: &str) -> String {
    format!("{pkgid} ")
}

fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Expected digests of a package from its metadata checksum and size.
pub fn expected(checksum_type: &str, checksum: &str, size: Option<u64>) -> ExpectedDigests {
    let mut e = ExpectedDigests {
        size,
        ..Default::default()
    };
    let c = Some(checksum.to_ascii_lowercase());
    match checksum_type {
        "sha224" => e.sha224 = c,
        "sha256" => e.sha256 = c,
        "sha384" => e.sha384 = c,
        "sha512" => e.sha512 = c,
        _ => {}
    }
    e
}

/// A package unit; `source` says where its bytes are, `artifact_id` if already stored.
pub fn package(
    p: Package,
    source: Option<RemoteSource>,
    artifact_id: Option<String>,
    extra_fragments: Vec<(String, Vec<u8>)>,
) -> NewUnit {
    let nevra = p.nevra();
    let filename = p.filename();
    let data = json!({
        "name": p.name,
        "epoch": p.epoch,
        "version": p.version,
        "release": p.release,
        "arch": p.arch,
        "pkgId": p.pkgid,
        "checksum_type": p.checksum_type,
        "summary": p.summary,
        "url": p.url,
        "location_href": filename,
        "location_base": "",
        "source_href": p.location_href,
        "relative_path": filename,
        "size_package": p.size_package,
        "time_build": p.time_build,
        "rpm_sourcerpm": p.sourcerpm,
        "is_modular": false,
        "nevra": nevra,
        "repo_key": format!("package:{nevra}"),
    });
    let mut metadata = vec![(PRIMARY.to_string(), p.fragment)];
    metadata.extend(extra_fragments);
    NewUnit {
        pulp_type: PACKAGE.into(),
        natural_key: format!("{} {} {}", p.pkgid, p.checksum_type, nevra),
        data: data.to_string(),
        artifacts: vec![NewContentArtifact {
            relative_path: filename,
            artifact_id,
            remote: source,
        }],
        metadata,
    }
}

fn element_unit(
    pulp_type: &str,
    key: String,
    data: Map<String, Value>,
    kind: &str,
    fragment: Vec<u8>,
) -> NewUnit {
    let d = digest(&fragment);
    let mut data = data;
    data.insert("digest".into(), json!(d));
    data.insert("repo_key".into(), json!(format!("{pulp_type}:{key}")));
    NewUnit {
        pulp_type: pulp_type.into(),
        natural_key: format!("{key} {d}"),
        data: Value::Object(data).to_string(),
        artifacts: vec![],
        metadata: vec![(kind.to_string(), fragment)],
    }
}

/// An advisory from an `<update>` of updateinfo.xml.
pub fn advisory(el: Element) -> Result<NewUnit, String> {
    let id = crate::records::id_of(&el, "updateinfo.xml")?;
    let s = |v: Option<&str>| json!(v.unwrap_or(""));
    let data = json!({
        "id": id,
        "type": s(el.attr("type")),
        "status": s(el.attr("status")),
        "version": s(el.attr("version")),
        "fromstr": s(el.attr("from")),
        "title": s(el.child("title")),
        "severity": s(el.child("severity")),
        "summary": s(el.child("summary")),
        "release": s(el.child("release")),
        "pushcount": s(el.child("pushcount")),
        "issued_date": s(el.child_attr("issued", "date")),
        "updated_date": s(el.child_attr("updated", "date")),
    });
    let Value::Object(map) = data else {
        unreachable!()
    };
    Ok(element_unit(ADVISORY, id, map, UPDATEINFO, el.fragment))
}

/// A comps group, category, environment or langpacks element.
pub fn comps(el: Element) -> Result<NewUnit, String> {
    let pulp_type = match el.kind.as_str() {
        "group" => PACKAGE_GROUP,
        "category" => PACKAGE_CATEGORY,
        "environment" => PACKAGE_ENVIRONMENT,
        _ => PACKAGE_LANGPACKS,
    };
    if pulp_type == PACKAGE_LANGPACKS {
        return Ok(element_unit(
            pulp_type,
            "langpacks".into(),
            Map::new(),
            COMPS,
            el.fragment,
        ));
    }
    let id = crate::records::id_of(&el, "comps.xml")?;
    let mut data = Map::new();
    data.insert("id".into(), json!(id));
    data.insert("name".into(), json!(el.child("name").unwrap_or("")));
    data.insert(
        "description".into(),
        json!(el.child("description").unwrap_or("")),
    );
    if let Some(o) = el
        .child("display_order")
        .and_then(|s| s.parse::<i64>().ok())
    {
        data.insert("display_order".into(), json!(o));
    }
    if pulp_type == PACKAGE_GROUP {
        data.insert(
            "user_visible".into(),
            json!(el.child("uservisible").is_none_or(|v| v != "false")),
        );
        data.insert(
            "default".into(),
            json!(el.child("default").is_some_and(|v| v == "true")),
        );
    }
    Ok(element_unit(pulp_type, id, data, COMPS, el.fragment))
}

/// A document of modules.yaml.
pub fn module_document(d: Document) -> Result<NewUnit, String> {
    let (pulp_type, key, data) = match d.document.as_str() {
        "modulemd" => {
            let (n, s, v, c, a) = (
                d.field("name"),
                d.field("stream"),
                d.field("version"),
                d.field("context"),
                d.field("arch"),
            );
            if n.is_empty() || s.is_empty() {
                return Err("modules.yaml: a modulemd document lacks its name or stream".into());
            }
            (
                MODULEMD,
                format!("{n}:{s}:{v}:{c}:{a}"),
                json!({"name": n, "stream": s, "version": v, "context": c, "arch": a,
                       "artifacts": d.rpms}),
            )
        }
        "modulemd-defaults" => {
            let m = d.field("module");
            if m.is_empty() {
                return Err("modules.yaml: a modulemd-defaults document lacks its module".into());
            }
            (
                MODULEMD_DEFAULTS,
                m.to_string(),
                json!({"module": m, "stream": d.field("stream")}),
            )
        }
        "modulemd-obsoletes" => {
            let (m, s, t) = (d.field("module"), d.field("stream"), d.field("modified"));
            (
                MODULEMD_OBSOLETE,
                format!("{m}:{s}:{t}"),
                json!({"module_name": m, "module_stream": s, "modified": t}),
            )
        }
        other => {
            return Err(format!("modules.yaml: unknown document type '{other}'"));
        }
    };
    let Value::Object(map) = data else {
        unreachable!()
    };
    Ok(element_unit(
        pulp_type,
        key,
        map,
        MODULES,
        d.text.into_bytes(),
    ))
}

/// A metadata file of a type depot does not interpret, kept and published as it is.
pub fn repo_metadata_file(
    data_type: &str,
    checksum_type: &str,
    checksum: &str,
    relative_path: &str,
    artifact_id: String,
) -> NewUnit {
    NewUnit {
        pulp_type: REPO_METADATA_FILE.into(),
        natural_key: format!("{data_type} {checksum_type} {checksum}"),
        data: json!({
            "data_type": data_type,
            "checksum_type": checksum_type,
            "checksum": checksum,
            "relative_path": relative_path,
            "repo_key": format!("{REPO_METADATA_FILE}:{data_type}"),
        })
        .to_string(),
        artifacts: vec![NewContentArtifact {
            relative_path: relative_path.to_string(),
            artifact_id: Some(artifact_id),
            remote: None,
        }],
        metadata: vec![],
    }
}
