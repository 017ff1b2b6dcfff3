//! The OpenAPI 3 document, built from depot's own operations and field declarations.
//!
//! pulp-glue (and so pulp-cli and the Ansible modules) reads it to find operations by
//! operationId, to learn the component versions, and to validate request bodies and
//! parameters before sending them; its parser rejects unknown keys, so only keys OpenAPI
//! 3.0 defines are emitted.

use serde_json::{Map, Value, json};

use depot_core::Depot;
use depot_core::fields::{Field, Kind};
use depot_core::plugin::TypeDef;
use depot_core::resources::{
    content, content_guards, distributions, publications, remotes, repositories, users,
};

use crate::ops::Op;
use crate::status::app_versions;

/// JSON schema of one field.
fn field_schema(f: &Field) -> Value {
    let mut s = match f.kind {
        Kind::Str | Kind::RelPath => json!({"type": "string"}),
        Kind::Url | Kind::Href(_) => json!({"type": "string", "format": "uri"}),
        Kind::DateTime => json!({"type": "string", "format": "date-time"}),
        Kind::Int { min, max } => {
            let mut s = json!({"type": "integer", "format": "int64"});
            if let Some(m) = min {
                s["minimum"] = json!(m);
            }
            if let Some(m) = max {
                s["maximum"] = json!(m);
            }
            s
        }
        Kind::Num { min } => {
            let mut s = json!({"type": "number", "format": "double"});
            if let Some(m) = min {
                s["minimum"] = json!(m);
            }
            s
        }
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Choice(c) => json!({"type": "string", "enum": c}),
        Kind::Labels => {
            json!({"type": "object", "additionalProperties": {"type": "string", "nullable": true}})
        }
        Kind::Json("array") => json!({"type": "array", "items": {"type": "object"}}),
        Kind::Json(t) => json!({"type": t}),
        Kind::StrList => json!({"type": "array", "items": {"type": "string"}}),
        Kind::HrefList(_) => json!({"type": "array", "items": {"type": "string", "format": "uri"}}),
        Kind::File => json!({"type": "string", "format": "binary"}),
    };
    if f.nullable {
        s["nullable"] = json!(true);
    }
    if f.read_only {
        s["readOnly"] = json!(true);
    }
    if f.write_only {
        s["writeOnly"] = json!(true);
    }
    if !f.help.is_empty() {
        s["description"] = json!(f.help);
    }
    s
}

/// An object schema of `fields`: for requests (writable fields, `required` unless patched) or
/// for responses (readable fields).
fn object_schema<'a>(
    fields: impl IntoIterator<Item = &'a Field>,
    request: bool,
    patched: bool,
) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in fields {
        if request && f.read_only || !request && f.write_only {
            continue;
        }
        props.insert(f.name.to_string(), field_schema(f));
        if request && !patched && f.required {
            required.push(f.name);
        }
    }
    let mut s = json!({"type": "object", "properties": props});
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    s
}

fn paginated(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["count", "results"],
        "properties": {
            "count": {"type": "integer"},
            "next": {"type": "string", "nullable": true, "format": "uri"},
            "previous": {"type": "string", "nullable": true, "format": "uri"},
            "results": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
        },
    })
}

struct Schemas(Map<String, Value>);

impl Schemas {
    fn add(&mut self, name: &str, v: Value) {
        self.0.insert(name.to_string(), v);
    }

    /// Request, patched request, response and paginated list schemas of a typed resource.
    fn typed(&mut self, def: &TypeDef, fields: &[&Field]) {
        let fs = fields.iter().copied();
        self.add(def.schema, object_schema(fs.clone(), true, false));
        self.add(
            &format!("Patched{}", def.schema),
            object_schema(fs.clone(), true, true),
        );
        let response = format!("{}Response", def.schema);
        self.add(&response, object_schema(fs, false, false));
        self.add(&format!("Paginated{response}List"), paginated(&response));
    }
}

fn loose(props: Value) -> Value {
    json!({"type": "object", "properties": props})
}

fn components(depot: &Depot) -> Map<String, Value> {
    let mut s = Schemas(Map::new());
    for def in depot.plugins.remotes() {
        s.typed(def, &remotes::fields(def));
    }
    for r in depot.plugins.repositories() {
        s.typed(&r.def, &repositories::fields(&r.def));
        if let Some(sync) = &r.sync {
            let remote = Field::new("remote", Kind::Href("remotes"))
                .help("A remote to sync from. This will override a remote set on repository.");
            let mut fields = vec![&remote];
            fields.extend(sync.fields.iter());
            s.add(sync.schema, object_schema(fields, true, false));
        }
        for a in &r.actions {
            s.add(
                a.schema,
                object_schema(a.fields.iter().collect::<Vec<_>>(), true, false),
            );
        }
    }
    for p in depot.plugins.publications() {
        s.typed(&p.def, &publications::fields(&p.def));
    }
    for a in depot.plugins.list.iter().flat_map(|p| p.actions.iter()) {
        s.add(
            a.schema,
            object_schema(a.fields.iter().collect::<Vec<_>>(), true, false),
        );
    }
    for d in depot.plugins.distributions() {
        s.typed(&d.def, &distributions::fields(&d.def));
    }
    for c in depot.plugins.content() {
        let response = format!("{}Response", c.def.schema);
        let shown: Vec<&Field> = content::COMMON.iter().chain(c.def.fields.iter()).collect();
        s.add(&response, object_schema(shown, false, false));
        s.add(&format!("Paginated{response}List"), paginated(&response));
        if let Some(upload) = &c.upload {
            let mut create: Vec<&Field> = content::CREATE_FIELDS.iter().collect();
            create.push(&content::COMMON[4]);
            create.extend(upload.fields.iter());
            s.add(
                upload.schema,
                object_schema(create.iter().copied(), true, false),
            );
            let sync_upload: Vec<&Field> = create
                .into_iter()
                .filter(|f| f.name != "repository" && f.name != "overwrite")
                .collect();
            s.add(
                &format!("{}Upload", c.def.schema),
                object_schema(sync_upload, true, false),
            );
        }
    }
    for g in depot.plugins.type_defs(depot_core::Family::ContentGuards) {
        s.typed(g, &content_guards::fields(g));
    }
    // what the generic lists render: the family's own fields
    for (name, common) in [
        ("RemoteResponse", remotes::COMMON),
        ("RepositoryResponse", repositories::COMMON),
        ("PublicationResponse", publications::COMMON),
        ("DistributionResponse", distributions::COMMON),
    ] {
        s.add(name, object_schema(common.iter(), false, false));
        s.add(&format!("Paginated{name}List"), paginated(name));
    }
    let guard_common: Vec<&Field> = content_guards::COMMON.iter().collect();
    s.add(
        "ContentGuardResponse",
        object_schema(guard_common, false, false),
    );
    s.add(
        "PaginatedContentGuardResponseList",
        paginated("ContentGuardResponse"),
    );
    let user_fields: Vec<&Field> = users::USER_FIELDS.iter().collect();
    s.add("User", object_schema(user_fields.clone(), true, false));
    s.add("PatchedUser", object_schema(user_fields, true, true));
    s.add(
        "UserResponse",
        loose(json!({
            "pulp_href": {"type": "string", "format": "uri", "readOnly": true},
            "prn": {"type": "string", "readOnly": true},
            "id": {"type": "integer", "readOnly": true},
            "username": {"type": "string"},
            "first_name": {"type": "string"},
            "last_name": {"type": "string"},
            "email": {"type": "string"},
            "is_staff": {"type": "boolean"},
            "is_active": {"type": "boolean"},
            "date_joined": {"type": "string", "format": "date-time", "readOnly": true},
            "groups": {"type": "array", "items": {"type": "object"}, "readOnly": true},
            "hidden_fields": {"type": "array", "items": {"type": "object"}, "readOnly": true},
        })),
    );
    s.add("PaginatedUserResponseList", paginated("UserResponse"));
    s.add(
        "SigningServiceResponse",
        loose(json!({
            "pulp_href": {"type": "string", "format": "uri", "readOnly": true},
            "prn": {"type": "string", "readOnly": true},
            "pulp_created": {"type": "string", "format": "date-time", "readOnly": true},
            "pulp_last_updated": {"type": "string", "format": "date-time", "readOnly": true},
            "name": {"type": "string"},
            "public_key": {"type": "string"},
            "pubkey_fingerprint": {"type": "string"},
            "script": {"type": "string"},
        })),
    );
    s.add(
        "PaginatedSigningServiceResponseList",
        paginated("SigningServiceResponse"),
    );
    let group_fields: Vec<&Field> = users::GROUP_FIELDS.iter().collect();
    s.add("Group", object_schema(group_fields.clone(), true, false));
    s.add("PatchedGroup", object_schema(group_fields, true, true));
    s.add(
        "GroupResponse",
        loose(json!({
            "name": {"type": "string"},
            "pulp_href": {"type": "string", "format": "uri", "readOnly": true},
            "prn": {"type": "string", "readOnly": true},
            "id": {"type": "integer", "readOnly": true},
        })),
    );
    s.add("PaginatedGroupResponseList", paginated("GroupResponse"));
    s.add(
        "GroupUser",
        json!({"type": "object", "required": ["username"], "properties": {"username": {"type": "string"}}}),
    );
    s.add(
        "GroupUserResponse",
        loose(json!({
            "username": {"type": "string"},
            "pulp_href": {"type": "string", "format": "uri", "readOnly": true},
            "prn": {"type": "string", "readOnly": true},
        })),
    );
    s.add(
        "PaginatedGroupUserResponseList",
        paginated("GroupUserResponse"),
    );
    let role_fields: Vec<&Field> = users::ROLE_FIELDS.iter().collect();
    s.add("Role", object_schema(role_fields.clone(), true, false));
    s.add("PatchedRole", object_schema(role_fields, true, true));
    s.add(
        "RoleResponse",
        loose(json!({
            "pulp_href": {"type": "string", "format": "uri", "readOnly": true},
            "prn": {"type": "string", "readOnly": true},
            "pulp_created": {"type": "string", "format": "date-time", "readOnly": true},
            "pulp_last_updated": {"type": "string", "format": "date-time", "readOnly": true},
            "name": {"type": "string"},
            "description": {"type": "string", "nullable": true},
            "permissions": {"type": "array", "items": {"type": "string"}},
            "locked": {"type": "boolean", "readOnly": true},
        })),
    );
    s.add("PaginatedRoleResponseList", paginated("RoleResponse"));
    let assignment = json!({
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {"type": "string"},
            "content_object": {"type": "string", "nullable": true},
            "content_object_prn": {"type": "string", "nullable": true},
        },
    });
    let assignment_r = loose(json!({
        "pulp_href": {"type": "string", "format": "uri", "readOnly": true},
        "prn": {"type": "string", "readOnly": true},
        "pulp_created": {"type": "string", "format": "date-time", "readOnly": true},
        "pulp_last_updated": {"type": "string", "format": "date-time", "readOnly": true},
        "role": {"type": "string"},
        "content_object": {"type": "string", "nullable": true},
        "content_object_prn": {"type": "string", "nullable": true},
        "description": {"type": "string", "nullable": true, "readOnly": true},
        "permissions": {"type": "array", "items": {"type": "string"}, "readOnly": true},
        "domain": {"type": "string", "nullable": true},
    }));
    for name in ["UserRole", "GroupRole"] {
        s.add(name, assignment.clone());
        s.add(&format!("{name}Response"), assignment_r.clone());
        s.add(
            &format!("Paginated{name}ResponseList"),
            paginated(&format!("{name}Response")),
        );
    }
    s.add(
        "NestedRole",
        object_schema(users::NESTED_ROLE_FIELDS.iter(), true, false),
    );
    s.add(
        "NestedRoleResponse",
        loose(json!({
            "users": {"type": "array", "items": {"type": "string"}},
            "groups": {"type": "array", "items": {"type": "string"}},
            "role": {"type": "string"},
        })),
    );
    s.add(
        "ObjectRolesResponse",
        loose(json!({"roles": {"type": "array", "items": {"type": "object"}}})),
    );
    s.add(
        "MyPermissionsResponse",
        loose(json!({"permissions": {"type": "array", "items": {"type": "string"}}})),
    );
    s.add(
        "RepositoryAddRemoveContent",
        object_schema(repositories::MODIFY_FIELDS.iter(), true, false),
    );
    let version = loose(json!({
        "pulp_href": {"type": "string", "format": "uri", "readOnly": true},
        "prn": {"type": "string", "readOnly": true},
        "pulp_created": {"type": "string", "format": "date-time", "readOnly": true},
        "pulp_last_updated": {"type": "string", "format": "date-time", "readOnly": true},
        "number": {"type": "integer", "readOnly": true},
        "repository": {"type": "string", "format": "uri", "readOnly": true},
        "base_version": {"type": "string", "format": "uri", "nullable": true},
        "content_summary": {"type": "object", "readOnly": true},
        "vuln_report": {"type": "string", "readOnly": true},
    }));
    s.add("RepositoryVersionResponse", version);
    s.add(
        "PaginatedRepositoryVersionResponseList",
        paginated("RepositoryVersionResponse"),
    );
    s.add(
        "AsyncOperationResponse",
        json!({
            "type": "object",
            "description": "Serializer for asynchronous operations.",
            "required": ["task"],
            "properties": {"task": {"type": "string", "format": "uri", "description": "The href of the task."}},
        }),
    );
    s.add(
        "TaskResponse",
        loose(json!({
            "pulp_href": {"type": "string", "format": "uri", "readOnly": true},
            "prn": {"type": "string", "readOnly": true},
            "pulp_created": {"type": "string", "format": "date-time", "readOnly": true},
            "pulp_last_updated": {"type": "string", "format": "date-time", "readOnly": true},
            "state": {"type": "string", "readOnly": true},
            "name": {"type": "string"},
            "logging_cid": {"type": "string"},
            "created_by": {"type": "string", "format": "uri", "readOnly": true},
            "unblocked_at": {"type": "string", "format": "date-time", "readOnly": true},
            "started_at": {"type": "string", "format": "date-time", "readOnly": true},
            "finished_at": {"type": "string", "format": "date-time", "readOnly": true},
            "error": {"type": "object", "readOnly": true},
            "worker": {"type": "string", "format": "uri", "readOnly": true},
            "parent_task": {"type": "string", "format": "uri", "readOnly": true},
            "child_tasks": {"type": "array", "items": {"type": "string", "format": "uri"}, "readOnly": true},
            "task_group": {"type": "string", "format": "uri", "readOnly": true},
            "progress_reports": {"type": "array", "items": {"type": "object"}, "readOnly": true},
            "created_resources": {"type": "array", "items": {"type": "string", "format": "uri", "nullable": true}, "readOnly": true},
            "created_resource_prns": {"type": "array", "items": {"type": "string"}, "readOnly": true},
            "reserved_resources_record": {"type": "array", "items": {"type": "string"}, "readOnly": true},
            "result": {"type": "object", "readOnly": true},
            "pulp_api_version": {"type": "string", "readOnly": true},
        })),
    );
    s.add("PaginatedTaskResponseList", paginated("TaskResponse"));
    s.add(
        "PatchedTaskCancel",
        json!({"type": "object", "properties": {"state": {"type": "string", "description": "The desired state of the task. Only 'canceled' is accepted."}}}),
    );
    let digests = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];
    let mut artifact = Map::new();
    artifact.insert("file".into(), json!({"type": "string", "format": "binary"}));
    artifact.insert("size".into(), json!({"type": "integer", "format": "int64"}));
    for d in digests {
        artifact.insert(d.into(), json!({"type": "string", "nullable": true}));
    }
    s.add(
        "Artifact",
        json!({"type": "object", "required": ["file"], "properties": artifact}),
    );
    let mut artifact_r = Map::new();
    for k in [
        "pulp_href",
        "prn",
        "pulp_created",
        "pulp_last_updated",
        "file",
    ] {
        artifact_r.insert(k.into(), json!({"type": "string", "readOnly": true}));
    }
    artifact_r.insert("size".into(), json!({"type": "integer", "format": "int64"}));
    for d in digests {
        artifact_r.insert(d.into(), json!({"type": "string", "nullable": true}));
    }
    s.add("ArtifactResponse", loose(Value::Object(artifact_r)));
    s.add(
        "PaginatedArtifactResponseList",
        paginated("ArtifactResponse"),
    );
    s.add(
        "Upload",
        json!({"type": "object", "required": ["size"], "properties": {"size": {"type": "integer", "format": "int64", "description": "The size of the upload in bytes."}}}),
    );
    let upload_r = json!({
        "pulp_href": {"type": "string", "format": "uri", "readOnly": true},
        "prn": {"type": "string", "readOnly": true},
        "pulp_created": {"type": "string", "format": "date-time", "readOnly": true},
        "pulp_last_updated": {"type": "string", "format": "date-time", "readOnly": true},
        "size": {"type": "integer", "format": "int64"},
    });
    s.add("UploadResponse", loose(upload_r.clone()));
    let mut detail = upload_r;
    detail["chunks"] = json!({"type": "array", "items": {"type": "object"}, "readOnly": true});
    s.add("UploadDetailResponse", loose(detail));
    s.add("PaginatedUploadResponseList", paginated("UploadResponse"));
    s.add(
        "UploadChunk",
        json!({"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "writeOnly": true, "description": "A chunk of the uploaded file."},
            "sha256": {"type": "string", "nullable": true, "writeOnly": true, "description": "The SHA-256 checksum of the chunk if available."},
        }}),
    );
    s.add(
        "UploadCommit",
        json!({"type": "object", "required": ["sha256"], "properties": {"sha256": {"type": "string", "description": "The expected sha256 checksum for the file."}}}),
    );
    s.add(
        "OrphansCleanup",
        json!({"type": "object", "properties": {
            "content_hrefs": {"type": "array", "items": {"type": "string"}, "description": "Will delete specified content and associated Artifacts if they are orphans."},
            "orphan_protection_time": {"type": "integer", "format": "int64", "nullable": true, "minimum": 0, "maximum": 4294967295u64, "description": "The time in minutes for how long Pulp will hold orphan Content and Artifacts before they become candidates for deletion by this orphan cleanup task."},
        }}),
    );
    s.add("StatusResponse", json!({"type": "object"}));
    s.add(
        "MultipleArtifactContentResponse",
        loose(json!({
            "pulp_href": {"type": "string", "format": "uri", "readOnly": true},
            "pulp_type": {"type": "string", "readOnly": true},
        })),
    );
    s.add(
        "PaginatedMultipleArtifactContentResponseList",
        paginated("MultipleArtifactContentResponse"),
    );
    s.0
}

fn operation(op: &Op) -> Value {
    let mut params = Vec::new();
    if let Some(p) = &op.path_param {
        params
            .push(json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}));
    }
    for p in &op.params {
        let mut v = json!({"name": p.name, "in": p.location, "schema": p.schema});
        if p.required {
            v["required"] = json!(true);
        }
        if let Some(explode) = p.explode {
            v["style"] = json!("form");
            v["explode"] = json!(explode);
        }
        params.push(v);
    }
    let mut o = json!({
        "operationId": op.id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
    });
    if let Some(b) = &op.body {
        let mut content = Map::new();
        for m in b.media {
            content.insert(
                m.to_string(),
                json!({"schema": {"$ref": format!("#/components/schemas/{}", b.schema)}}),
            );
        }
        o["requestBody"] = json!({"content": content, "required": b.required});
    }
    let mut responses = Map::new();
    for (status, schema) in &op.responses {
        let r = match schema {
            Some(s) => json!({
                "description": "",
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{s}")}}},
            }),
            None => json!({"description": "No response body"}),
        };
        responses.insert(status.to_string(), r);
    }
    o["responses"] = Value::Object(responses);
    if op.secured {
        o["security"] = json!([{"basicAuth": []}]);
    }
    o
}

/// The whole document.
pub fn document(depot: &Depot, ops: &[Op]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for op in ops {
        let item = paths
            .entry(op.template.clone())
            .or_insert_with(|| json!({}));
        item[op.method.as_str().to_ascii_lowercase()] = operation(op);
    }
    let spec_path = format!("{}docs/api.json", depot_core::href::API_ROOT);
    paths.insert(
        spec_path,
        json!({"get": {
            "operationId": "docs_api.json_get",
            "summary": "The OpenAPI document of this API",
            "tags": ["Docs"],
            "responses": {"200": {"description": "", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }}),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Pulp 3 API",
            "version": "v3",
            "description": "Fetch, Upload, Organize, and Distribute Software Packages. Served by depot.",
            "license": {"name": "GPLv2+"},
            "x-pulp-app-versions": app_versions(depot),
            "x-pulp-domain-enabled": false,
        },
        "paths": paths,
        "components": {
            "schemas": components(depot),
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
        },
    })
}
