//! Every API operation depot serves, declared once (see `ops`). Core resources first, then the
//! typed endpoints of each registered content type.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use depot_core::plugin::{ContentDef, DistributionDef, PublicationDef, RepositoryDef, TypeDef};
use depot_core::resources::list::ListSpec;
use depot_core::resources::{
    Outcome, artifacts, content, distributions, publications, remotes, repositories, task_view,
    uploads,
};
use depot_core::{Depot, href};
use depot_store::ExpectedDigests;

use crate::error::ApiError;
use crate::ops::{FORM_BODY, JSON_BODY, MULTIPART_BODY, Op, Param, Reply, Req, h, hd, ok};
use crate::status;
use depot_core::rbac::{Perm, Visible, permission};

const API: &str = href::API_ROOT;

/// Uploads belong to whoever made them: `core.upload_owner` on each, like Pulp.
const UPLOAD_MODEL: &str = "core.upload";

fn upload_perm(action: &str) -> Perm {
    Perm::Object {
        perm: permission(UPLOAD_MODEL, action),
        model: UPLOAD_MODEL.to_string(),
    }
}

/// `offset`, `limit`, `ordering`, `fields`, `exclude_fields` and the list's filters.
pub fn list_params(spec: &ListSpec) -> Vec<Param> {
    let mut p = vec![
        Param::query("limit", json!({"type": "integer"})),
        Param::query("offset", json!({"type": "integer"})),
        Param {
            explode: Some(false),
            ..Param::query(
                "ordering",
                json!({"type": "array", "items": {"type": "string"}}),
            )
        },
    ];
    p.extend(field_params());
    for f in &spec.filters {
        let mut schema = f.schema();
        let mut explode = f.explode();
        if f.param.ends_with("__in") {
            schema = json!({"type": "array", "items": {"type": "string"}});
            explode = false;
        } else if f.param.contains("number") {
            schema = json!({"type": "integer"});
        } else if ["__gt", "__gte", "__lt", "__lte"]
            .iter()
            .any(|s| f.param.ends_with(s))
        {
            schema = json!({"type": "string", "format": "date-time"});
        }
        if f.param == "state" {
            schema = json!({"type": "string", "enum": ["canceled", "canceling", "completed", "failed", "running", "skipped", "waiting"]});
        }
        p.push(Param {
            explode: (!explode).then_some(false),
            ..Param::query(&f.param, schema)
        });
    }
    p
}

/// `fields` / `exclude_fields`, accepted by every GET.
pub fn field_params() -> Vec<Param> {
    ["fields", "exclude_fields"]
        .iter()
        .map(|n| Param::query(n, json!({"type": "array", "items": {"type": "string"}})))
        .collect()
}

fn id_route(family: &str, path: &str) -> String {
    format!("{API}{family}/{path}/{{id}}/")
}

/// All operations.
pub fn operations(depot: &Depot) -> Vec<Op> {
    let mut ops = core_operations();
    ops.extend(crate::rbac_routes::operations());
    for def in depot.plugins.remotes() {
        let mut typed = remote_operations(def.clone());
        typed.extend(crate::rbac_routes::object_role_operations(def));
        typed_perms(&mut typed, def, None);
        ops.extend(typed);
    }
    for rdef in depot.plugins.repositories() {
        let mut typed = repository_operations(rdef.clone());
        typed.extend(crate::rbac_routes::object_role_operations(&rdef.def));
        typed_perms(&mut typed, &rdef.def, Some(rdef.version_op_prefix));
        for a in &rdef.actions {
            typed.push(repository_action(&rdef.def, a.clone()));
        }
        ops.extend(typed);
    }
    for pdef in depot.plugins.publications() {
        let mut typed = publication_operations(pdef.clone());
        typed.extend(crate::rbac_routes::object_role_operations(&pdef.def));
        typed_perms(&mut typed, &pdef.def, None);
        ops.extend(typed);
    }
    for ddef in depot.plugins.distributions() {
        let mut typed = distribution_operations(ddef.clone());
        typed.extend(crate::rbac_routes::object_role_operations(&ddef.def));
        typed_perms(&mut typed, &ddef.def, None);
        ops.extend(typed);
    }
    for gdef in depot.plugins.type_defs(depot_core::Family::ContentGuards) {
        let mut typed = crate::rbac_routes::content_guard_operations(gdef.clone());
        typed.extend(crate::rbac_routes::object_role_operations(gdef));
        typed_perms(&mut typed, gdef, None);
        ops.extend(typed);
    }
    for cdef in depot.plugins.content() {
        let mut typed = content_operations(cdef.clone());
        for op in &mut typed {
            op.perm = Perm::Authenticated;
        }
        ops.extend(typed);
    }
    for action in depot.plugins.list.iter().flat_map(|p| p.actions.iter()) {
        ops.push(action_operation(action.clone()));
    }
    ops
}

/// A content type's own operation on one repository: body validated against its fields, the
/// caller needs the action's permission on the repository.
fn repository_action(def: &TypeDef, a: depot_core::plugin::RepositoryActionDef) -> Op {
    let one = id_route("repositories", def.path);
    Op::new(
        format!("{}_{}", def.op_prefix, a.operation),
        Method::POST,
        format!("{one}{}/", a.path),
        hd(a.clone(), |mut r, a| async move {
            let id = r.id()?;
            let b = r.payload().await?;
            let fields: Vec<&depot_core::fields::Field> = a.fields.iter().collect();
            let args = depot_core::fields::validate(&fields, &b.fields, false)
                .map_err(depot_core::CoreError::Invalid)?;
            let task = (a.run)(r.depot().clone(), id, args, r.user.clone()).await?;
            Ok(Reply::Outcome(Outcome::Task(task)))
        }),
    )
    .href(def.href_param, &format!("{}/", a.path))
    .perm(Perm::Object {
        perm: permission(def.prn_model, a.permission),
        model: def.prn_model.to_string(),
    })
    .body(a.schema, JSON_BODY)
    .responds(202, Some("AsyncOperationResponse"))
    .tag(&format!("Repositories: {}", def.model), a.summary)
}

/// A content type's own operation: body validated against its fields, the action checks the
/// caller's permissions and dispatches a task.
fn action_operation(a: depot_core::plugin::ActionDef) -> Op {
    Op::new(
        a.operation_id,
        Method::POST,
        format!("{API}{}", a.path),
        hd(a.clone(), |mut r, a| async move {
            let b = r.payload().await?;
            let fields: Vec<&depot_core::fields::Field> = a.fields.iter().collect();
            let args = depot_core::fields::validate(&fields, &b.fields, false)
                .map_err(depot_core::CoreError::Invalid)?;
            let task = (a.run)(r.depot().clone(), args, r.user.clone()).await?;
            Ok(Reply::Outcome(Outcome::Task(task)))
        }),
    )
    .perm(Perm::Authenticated)
    .body(a.schema, JSON_BODY)
    .responds(202, Some("AsyncOperationResponse"))
    .tag(a.tag, a.summary)
}

/// The permission each operation of a typed resource needs, from its action: list for any
/// user (scoped to what they may see), create with the model's `add_` permission, everything
/// else with a permission on the object itself.
fn typed_perms(ops: &mut [Op], def: &TypeDef, version_prefix: Option<&str>) {
    let object = |action: &str| Perm::Object {
        perm: permission(def.prn_model, action),
        model: def.prn_model.to_string(),
    };
    for op in ops.iter_mut() {
        let (versions, action) = match version_prefix.and_then(|v| op.id.strip_prefix(v)) {
            Some(a) => (true, a.trim_start_matches('_')),
            None => match op.id.strip_prefix(def.op_prefix) {
                Some(a) => (false, a.trim_start_matches('_')),
                None => continue,
            },
        };
        op.perm = match (versions, action) {
            (true, "delete") => Perm::Object {
                perm: format!("{}_version", permission(def.prn_model, "delete")),
                model: def.prn_model.to_string(),
            },
            (true, _) => object("view"),
            (_, "list") => Perm::Authenticated,
            (_, "create") => Perm::Model(permission(def.prn_model, "add")),
            (_, "read" | "my_permissions") => object("view"),
            (_, "update" | "partial_update") => object("change"),
            (_, "add_role" | "remove_role" | "list_roles") => object("manage_roles"),
            (_, other) => object(other),
        };
    }
}

fn core_operations() -> Vec<Op> {
    let mut ops =
        vec![
        Op::new(
            "status_read",
            Method::GET,
            format!("{API}status/"),
            h(|r| async move { ok(status::status(r.depot()).await) }),
        )
        .anonymous()
        .responds(200, Some("StatusResponse"))
        .tag("Status", "Inspect status of Pulp"),
        Op::new(
            "signing_services_list",
            Method::GET,
            format!("{API}signing-services/"),
            h(|r| async move { Ok(Reply::List(r.depot().signing_service_list(&r.query).await?)) }),
        )
        .perm(Perm::Authenticated)
        .params(list_params(&depot_core::signing::list_spec()))
        .responds(200, Some("PaginatedSigningServiceResponseList"))
        .tag("Signing-Services", "List signing services"),
        Op::new(
            "signing_services_read",
            Method::GET,
            format!("{API}signing-services/{{id}}/"),
            h(|r| async move {
                let row = r
                    .depot()
                    .db
                    .signing_service_get(&r.id()?)
                    .await
                    .map_err(depot_core::CoreError::from)?
                    .ok_or_else(|| {
                        depot_core::CoreError::NotFound(
                            "No SigningService matches the given query.".into(),
                        )
                    })?;
                ok(depot_core::signing::render(&row))
            }),
        )
        .perm(Perm::Authenticated)
        .href("signing_service_href", "")
        .params(field_params())
        .responds(200, Some("SigningServiceResponse"))
        .tag("Signing-Services", "Inspect a signing service"),
        Op::new(
            "livez_read",
            Method::GET,
            format!("{API}livez/"),
            h(|_| async { Ok(Reply::Empty(StatusCode::OK)) }),
        )
        .anonymous()
        .responds(200, None)
        .tag("Livez", "Inspect liveness of Pulp's REST API."),
        // tasks
        Op::new(
            "tasks_list",
            Method::GET,
            format!("{API}tasks/"),
            h(|r| async move {
                Ok(Reply::List(
                    r.depot().task_list(&r.query, r.own_only()).await?,
                ))
            }),
        )
        .perm(Perm::Authenticated)
        .params(list_params(&task_view::list_spec()))
        .params(vec![Param::query("minimal", json!({"type": "boolean"}))])
        .responds(200, Some("PaginatedTaskResponseList"))
        .tag("Tasks", "List tasks"),
        Op::new(
            "tasks_read",
            Method::GET,
            format!("{API}tasks/{{id}}/"),
            h(|r| async move {
                let t = own_task(r.depot(), &r.id()?, r.own_only()).await?;
                ok(task_view::render(&t))
            }),
        )
        .perm(Perm::Authenticated)
        .href("task_href", "")
        .params(field_params())
        .responds(200, Some("TaskResponse"))
        .tag("Tasks", "Inspect a task"),
        Op::new(
            "tasks_cancel",
            Method::PATCH,
            format!("{API}tasks/{{id}}/"),
            h(|mut r| async move {
                let id = own_task(r.depot(), &r.id()?, r.own_only()).await?.id;
                let body = r.payload().await?;
                let (task, final_already) =
                    r.depot().task_cancel(&id, body.fields.get("state")).await?;
                let status = if final_already {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::OK
                };
                Ok(Reply::Json(status, task))
            }),
        )
        .href("task_href", "")
        .perm(Perm::Authenticated)
        .body("PatchedTaskCancel", JSON_BODY)
        .responds(200, Some("TaskResponse"))
        .responds(409, Some("TaskResponse"))
        .tag("Tasks", "Cancel a task"),
        Op::new(
            "tasks_delete",
            Method::DELETE,
            format!("{API}tasks/{{id}}/"),
            h(|r| async move {
                r.depot().task_delete(&r.id()?).await?;
                Ok(Reply::Empty(StatusCode::NO_CONTENT))
            }),
        )
        .href("task_href", "")
        .responds(204, None)
        .tag("Tasks", "Delete a task"),
        // artifacts
        Op::new(
            "artifacts_list",
            Method::GET,
            format!("{API}artifacts/"),
            h(|r| async move { Ok(Reply::List(r.depot().artifact_list(&r.query).await?)) }),
        )
        .params(list_params(&artifacts::list_spec()))
        .responds(200, Some("PaginatedArtifactResponseList"))
        .tag("Artifacts", "List artifacts"),
        Op::new(
            "artifacts_create",
            Method::POST,
            format!("{API}artifacts/"),
            h(|mut r| async move {
                let p = r.payload().await?;
                let (blob, digests) = p
                    .file
                    .ok_or_else(|| ApiError::bad_request("file", "No file was submitted."))?;
                let s = |k: &str| p.fields.get(k).and_then(Value::as_str).map(str::to_string);
                let expected = ExpectedDigests {
                    size: s("size").and_then(|v| v.parse().ok()),
                    sha224: s("sha224"),
                    sha256: s("sha256"),
                    sha384: s("sha384"),
                    sha512: s("sha512"),
                };
                if s("md5").is_some() || s("sha1").is_some() {
                    return Err(ApiError::bad_request(
                        "non_field_errors",
                        "Checksum algorithms ['md5', 'sha1'] forbidden for this Pulp instance.",
                    ));
                }
                let v = r.depot().artifact_create(blob, digests, &expected).await?;
                Ok(Reply::Outcome(Outcome::Done(v)))
            }),
        )
        .body("Artifact", MULTIPART_BODY)
        .responds(201, Some("ArtifactResponse"))
        .tag("Artifacts", "Create an artifact"),
        Op::new(
            "artifacts_read",
            Method::GET,
            format!("{API}artifacts/{{id}}/"),
            h(|r| async move { ok(r.depot().artifact_read(&r.id()?).await?) }),
        )
        .href("artifact_href", "")
        .params(field_params())
        .responds(200, Some("ArtifactResponse"))
        .tag("Artifacts", "Inspect an artifact"),
        // uploads
        Op::new(
            "uploads_list",
            Method::GET,
            format!("{API}uploads/"),
            h(|r| async move {
                let visible = r.depot().visible(r.user.as_ref(), UPLOAD_MODEL).await?;
                Ok(Reply::List(r.depot().upload_list(&r.query, &visible).await?))
            }),
        )
        .params(list_params(&uploads::list_spec()))
        .perm(Perm::Authenticated)
        .responds(200, Some("PaginatedUploadResponseList"))
        .tag("Uploads", "List uploads"),
        Op::new(
            "uploads_create",
            Method::POST,
            format!("{API}uploads/"),
            h(|mut r| async move {
                let p = r.payload().await?;
                let v = r.depot().upload_create(&p.fields).await?;
                Ok(Reply::Outcome(Outcome::Done(v)))
            }),
        )
        .body("Upload", JSON_BODY)
        .perm(Perm::Model("core.add_upload".into()))
        .responds(201, Some("UploadResponse"))
        .tag("Uploads", "Create an upload"),
        Op::new(
            "uploads_read",
            Method::GET,
            format!("{API}uploads/{{id}}/"),
            h(|r| async move { ok(r.depot().upload_read(&r.id()?).await?) }),
        )
        .href("upload_href", "")
        .perm(upload_perm("view"))
        .params(field_params())
        .responds(200, Some("UploadDetailResponse"))
        .tag("Uploads", "Inspect an upload"),
        Op::new(
            "uploads_update",
            Method::PUT,
            format!("{API}uploads/{{id}}/"),
            h(|mut r| async move {
                let id = r.id()?;
                let range = r
                    .headers
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let p = r.payload().await?;
                let (blob, digests) = p
                    .file
                    .ok_or_else(|| ApiError::bad_request("file", "No file was submitted."))?;
                let sha = p.fields.get("sha256").and_then(Value::as_str);
                let v = r
                    .depot()
                    .upload_chunk(&id, range.as_deref(), &blob, &digests, sha)
                    .await?;
                ok(v)
            }),
        )
        .href("upload_href", "")
        .params(vec![Param {
            name: "Content-Range".into(),
            location: "header",
            schema: json!({"type": "string"}),
            required: true,
            explode: None,
        }])
        .body("UploadChunk", MULTIPART_BODY)
        .perm(upload_perm("change"))
        .responds(200, Some("UploadResponse"))
        .tag("Uploads", "Upload a file chunk"),
        Op::new(
            "uploads_delete",
            Method::DELETE,
            format!("{API}uploads/{{id}}/"),
            h(|r| async move {
                r.depot().upload_delete(&r.id()?).await?;
                Ok(Reply::Empty(StatusCode::NO_CONTENT))
            }),
        )
        .href("upload_href", "")
        .perm(upload_perm("delete"))
        .responds(204, None)
        .tag("Uploads", "Delete an upload"),
        Op::new(
            "uploads_commit",
            Method::POST,
            format!("{API}uploads/{{id}}/commit/"),
            h(|mut r| async move {
                let id = r.id()?;
                let p = r.payload().await?;
                let uid = r.user_id();
                Ok(Reply::Outcome(
                    r.depot().upload_commit(&id, &p.fields, uid).await?,
                ))
            }),
        )
        .href("upload_href", "commit/")
        .body("UploadCommit", JSON_BODY)
        .perm(upload_perm("change"))
        .responds(202, Some("AsyncOperationResponse"))
        .tag("Uploads", "Finish an Upload"),
        // orphans
        Op::new(
            "orphans_cleanup_cleanup",
            Method::POST,
            format!("{API}orphans/cleanup/"),
            h(|mut r| async move {
                let p = r.payload().await?;
                let uid = r.user_id();
                Ok(Reply::Outcome(
                    r.depot().orphans_cleanup(&p.fields, uid).await?,
                ))
            }),
        )
        .body("OrphansCleanup", JSON_BODY)
        .responds(202, Some("AsyncOperationResponse"))
        .tag(
            "Orphans: Cleanup",
            "Clean up orphaned content and artifacts",
        ),
        // generic content list
        Op::new(
            "content_list",
            Method::GET,
            format!("{API}content/"),
            h(|r| async move {
                let repos = visible_repositories(r.depot(), r.user.as_ref()).await?;
                Ok(Reply::List(
                    r.depot().content_list_all(&r.query, &repos).await?,
                ))
            }),
        )
        .perm(Perm::Authenticated)
        .params(vec![
            Param::query("limit", json!({"type": "integer"})),
            Param::query("offset", json!({"type": "integer"})),
            Param::query("repository_version", json!({"type": "string"})),
            Param::query("pulp_type", json!({"type": "string"})),
        ])
        .params(field_params())
        .responds(200, Some("PaginatedMultipleArtifactContentResponseList"))
        .tag("Content", "List content"),
    ];
    ops.extend(generic_list_operations());
    ops
}

/// `/remotes/`, `/repositories/`, `/publications/`, `/distributions/`,
/// `/repository_versions/`: every type of a family, scoped to what the caller may view.
fn generic_list_operations() -> Vec<Op> {
    use depot_core::resources::generic;
    vec![
        Op::new(
            "remotes_list",
            Method::GET,
            format!("{API}remotes/"),
            h(|r| async move {
                Ok(Reply::List(
                    r.depot().remote_list_all(&r.query, r.user.as_ref()).await?,
                ))
            }),
        )
        .params(list_params(&generic::remote_spec()))
        .perm(Perm::Authenticated)
        .responds(200, Some("PaginatedRemoteResponseList"))
        .tag("Remotes", "List remotes"),
        Op::new(
            "repositories_list",
            Method::GET,
            format!("{API}repositories/"),
            h(|r| async move {
                Ok(Reply::List(
                    r.depot()
                        .repository_list_all(&r.query, r.user.as_ref())
                        .await?,
                ))
            }),
        )
        .params(list_params(&generic::repository_spec()))
        .perm(Perm::Authenticated)
        .responds(200, Some("PaginatedRepositoryResponseList"))
        .tag("Repositories", "List repositories"),
        Op::new(
            "publications_list",
            Method::GET,
            format!("{API}publications/"),
            h(|r| async move {
                Ok(Reply::List(
                    r.depot()
                        .publication_list_all(&r.query, r.user.as_ref())
                        .await?,
                ))
            }),
        )
        .params(list_params(&generic::publication_spec()))
        .perm(Perm::Authenticated)
        .responds(200, Some("PaginatedPublicationResponseList"))
        .tag("Publications", "List publications"),
        Op::new(
            "distributions_list",
            Method::GET,
            format!("{API}distributions/"),
            h(|r| async move {
                Ok(Reply::List(
                    r.depot()
                        .distribution_list_all(&r.query, r.user.as_ref())
                        .await?,
                ))
            }),
        )
        .params(list_params(&generic::distribution_spec()))
        .perm(Perm::Authenticated)
        .responds(200, Some("PaginatedDistributionResponseList"))
        .tag("Distributions", "List distributions"),
        Op::new(
            "repository_versions_list",
            Method::GET,
            format!("{API}repository_versions/"),
            h(|r| async move {
                Ok(Reply::List(
                    r.depot()
                        .version_list_all(&r.query, r.user.as_ref())
                        .await?,
                ))
            }),
        )
        .params(list_params(&generic::version_spec()))
        .perm(Perm::Authenticated)
        .responds(200, Some("PaginatedRepositoryVersionResponseList"))
        .tag("Repository Versions", "List repository versions"),
    ]
}

/// The PATCH (partial) and PUT (full) update operations of a typed resource; `update` is
/// called with `partial` set accordingly.
fn update_ops<D, F, Fut>(def: &TypeDef, one: &str, what: &str, data: D, update: F) -> Vec<Op>
where
    D: Clone + Send + Sync + 'static,
    F: Fn(Req, D, bool) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Reply, ApiError>> + Send + 'static,
{
    [
        (Method::PATCH, "partial_update", true),
        (Method::PUT, "update", false),
    ]
    .into_iter()
    .map(|(method, action, partial)| {
        let update = update.clone();
        let body = if partial {
            format!("Patched{}", def.schema)
        } else {
            def.schema.to_string()
        };
        Op::new(
            format!("{}_{action}", def.op_prefix),
            method,
            one,
            hd(data.clone(), move |r, d| update(r, d, partial)),
        )
        .href(def.href_param, "")
        .body(&body, JSON_BODY)
        .responds(200, Some(&format!("{}Response", def.schema)))
        .responds(202, Some("AsyncOperationResponse"))
        .tag(
            &format!("{}: {}", def.family_title(), def.model),
            &format!("Update a {what}"),
        )
    })
    .collect()
}

fn remote_operations(def: TypeDef) -> Vec<Op> {
    let list = format!("{API}remotes/{}/", def.path);
    let one = id_route("remotes", def.path);
    let p = def.op_prefix;
    let tag = format!("Remotes: {}", def.model);
    let mut ops = vec![
        Op::new(
            format!("{p}_list"),
            Method::GET,
            &list,
            hd(def.clone(), |r, d| async move {
                Ok(Reply::List(
                    r.depot()
                        .remote_list(
                            &d,
                            &r.query,
                            &r.depot().visible(r.user.as_ref(), d.prn_model).await?,
                        )
                        .await?,
                ))
            }),
        )
        .params(list_params(&remotes::list_spec()))
        .responds(200, Some(&format!("Paginated{}ResponseList", def.schema)))
        .tag(&tag, "List remotes"),
        Op::new(
            format!("{p}_create"),
            Method::POST,
            &list,
            hd(def.clone(), |mut r, d| async move {
                let b = r.payload().await?;
                let v = r.depot().remote_create(&d, &b.fields).await?;
                Ok(Reply::Outcome(Outcome::Done(v)))
            }),
        )
        .body(def.schema, JSON_BODY)
        .responds(201, Some(&format!("{}Response", def.schema)))
        .tag(&tag, "Create a remote"),
        Op::new(
            format!("{p}_read"),
            Method::GET,
            &one,
            hd(def.clone(), |r, d| async move {
                let row = r.depot().remote_row(&d, &r.id()?).await?;
                ok(remotes::render(r.depot(), &row))
            }),
        )
        .href(def.href_param, "")
        .params(field_params())
        .responds(200, Some(&format!("{}Response", def.schema)))
        .tag(&tag, "Inspect a remote"),
        Op::new(
            format!("{p}_delete"),
            Method::DELETE,
            &one,
            hd(def.clone(), |r, d| async move {
                let uid = r.user_id();
                Ok(Reply::Outcome(
                    r.depot().remote_delete(&d, &r.id()?, uid).await?,
                ))
            }),
        )
        .href(def.href_param, "")
        .responds(202, Some("AsyncOperationResponse"))
        .tag(&tag, "Delete a remote"),
    ];
    ops.extend(update_ops(
        &def,
        &one,
        "remote",
        def.clone(),
        |mut r, d, partial| async move {
            let id = r.id()?;
            let b = r.payload().await?;
            let uid = r.user_id();
            Ok(Reply::Outcome(
                r.depot()
                    .remote_update(&d, &id, &b.fields, partial, uid)
                    .await?,
            ))
        },
    ));
    ops
}

fn repository_operations(rdef: RepositoryDef) -> Vec<Op> {
    let def = rdef.def.clone();
    let list = format!("{API}repositories/{}/", def.path);
    let one = id_route("repositories", def.path);
    let p = def.op_prefix;
    let tag = format!("Repositories: {}", def.model);
    let vp = rdef.version_op_prefix;
    let vtag = format!("Repositories: {} Versions", def.model);
    let mut ops = vec![
        Op::new(
            format!("{p}_list"),
            Method::GET,
            &list,
            hd(rdef.clone(), |r, d| async move {
                Ok(Reply::List(
                    r.depot()
                        .repository_list(
                            &d.def,
                            &r.query,
                            &r.depot().visible(r.user.as_ref(), d.def.prn_model).await?,
                        )
                        .await?,
                ))
            }),
        )
        .params(list_params(&repositories::list_spec()))
        .responds(200, Some(&format!("Paginated{}ResponseList", def.schema)))
        .tag(&tag, "List repositories"),
        Op::new(
            format!("{p}_create"),
            Method::POST,
            &list,
            hd(rdef.clone(), |mut r, d| async move {
                let b = r.payload().await?;
                let v = r.depot().repository_create(&d, &b.fields).await?;
                Ok(Reply::Outcome(Outcome::Done(v)))
            }),
        )
        .body(def.schema, JSON_BODY)
        .responds(201, Some(&format!("{}Response", def.schema)))
        .tag(&tag, "Create a repository"),
        Op::new(
            format!("{p}_read"),
            Method::GET,
            &one,
            hd(rdef.clone(), |r, d| async move {
                let row = r.depot().repository_row(&d.def, &r.id()?).await?;
                ok(repositories::render(r.depot(), &row))
            }),
        )
        .href(def.href_param, "")
        .params(field_params())
        .responds(200, Some(&format!("{}Response", def.schema)))
        .tag(&tag, "Inspect a repository"),
        Op::new(
            format!("{p}_delete"),
            Method::DELETE,
            &one,
            hd(rdef.clone(), |r, d| async move {
                let uid = r.user_id();
                Ok(Reply::Outcome(
                    r.depot().repository_delete(&d, &r.id()?, uid).await?,
                ))
            }),
        )
        .href(def.href_param, "")
        .responds(202, Some("AsyncOperationResponse"))
        .tag(&tag, "Delete a repository"),
        Op::new(
            format!("{p}_modify"),
            Method::POST,
            format!("{one}modify/"),
            hd(rdef.clone(), |mut r, d| async move {
                let id = r.id()?;
                let b = r.payload().await?;
                let uid = r.user_id();
                Ok(Reply::Outcome(
                    r.depot().repository_modify(&d, &id, &b.fields, uid).await?,
                ))
            }),
        )
        .href(def.href_param, "modify/")
        .body("RepositoryAddRemoveContent", JSON_BODY)
        .responds(202, Some("AsyncOperationResponse"))
        .tag(&tag, "Modify Repository Content"),
        Op::new(
            format!("{vp}_list"),
            Method::GET,
            format!("{one}versions/"),
            hd(rdef.clone(), |r, d| async move {
                Ok(Reply::List(
                    r.depot().version_list(&d, &r.id()?, &r.query).await?,
                ))
            }),
        )
        .href(def.href_param, "versions/")
        .params(list_params(&repositories::version_list_spec()))
        .responds(200, Some("PaginatedRepositoryVersionResponseList"))
        .tag(&vtag, "List repository versions"),
        Op::new(
            format!("{vp}_read"),
            Method::GET,
            format!("{one}versions/{{number}}/"),
            hd(rdef.clone(), |r, d| async move {
                let v = r.depot().version_row(&d, &r.id()?, r.number()?).await?;
                ok(repositories::render_version(r.depot(), &v))
            }),
        )
        .href(rdef.version_href_param, "")
        .params(field_params())
        .responds(200, Some("RepositoryVersionResponse"))
        .tag(&vtag, "Inspect a repository version"),
        Op::new(
            format!("{vp}_delete"),
            Method::DELETE,
            format!("{one}versions/{{number}}/"),
            hd(rdef.clone(), |r, d| async move {
                let uid = r.user_id();
                Ok(Reply::Outcome(
                    r.depot()
                        .version_delete(&d, &r.id()?, r.number()?, uid)
                        .await?,
                ))
            }),
        )
        .href(rdef.version_href_param, "")
        .responds(202, Some("AsyncOperationResponse"))
        .tag(&vtag, "Delete a repository version"),
    ];
    ops.extend(update_ops(
        &def,
        &one,
        "repository",
        rdef.clone(),
        |mut r, d, partial| async move {
            let id = r.id()?;
            let b = r.payload().await?;
            let uid = r.user_id();
            Ok(Reply::Outcome(
                r.depot()
                    .repository_update(&d, &id, &b.fields, partial, uid)
                    .await?,
            ))
        },
    ));
    if let Some(sync) = &rdef.sync {
        ops.push(
            Op::new(
                format!("{p}_sync"),
                Method::POST,
                format!("{one}sync/"),
                hd(rdef.clone(), |mut r, d| async move {
                    let id = r.id()?;
                    let b = r.payload().await?;
                    let uid = r.user_id();
                    Ok(Reply::Outcome(
                        r.depot().repository_sync(&d, &id, &b.fields, uid).await?,
                    ))
                }),
            )
            .href(def.href_param, "sync/")
            .body(sync.schema, JSON_BODY)
            .responds(202, Some("AsyncOperationResponse"))
            .tag(&tag, "Sync from a remote"),
        );
    }
    ops
}

fn publication_operations(pdef: PublicationDef) -> Vec<Op> {
    let def = pdef.def.clone();
    let list = format!("{API}publications/{}/", def.path);
    let one = id_route("publications", def.path);
    let p = def.op_prefix;
    let tag = format!("Publications: {}", def.model);
    vec![
        Op::new(
            format!("{p}_list"),
            Method::GET,
            &list,
            hd(pdef.clone(), |r, d| async move {
                Ok(Reply::List(
                    r.depot()
                        .publication_list(
                            &d.def,
                            &r.query,
                            &r.depot().visible(r.user.as_ref(), d.def.prn_model).await?,
                        )
                        .await?,
                ))
            }),
        )
        .params(list_params(&publications::list_spec()))
        .responds(200, Some(&format!("Paginated{}ResponseList", def.schema)))
        .tag(&tag, "List publications"),
        Op::new(
            format!("{p}_create"),
            Method::POST,
            &list,
            hd(pdef.clone(), |mut r, d| async move {
                let b = r.payload().await?;
                let uid = r.user_id();
                Ok(Reply::Outcome(
                    r.depot().publication_create(&d, &b.fields, uid).await?,
                ))
            }),
        )
        .body(def.schema, JSON_BODY)
        .responds(202, Some("AsyncOperationResponse"))
        .tag(&tag, "Create a publication"),
        Op::new(
            format!("{p}_read"),
            Method::GET,
            &one,
            hd(pdef.clone(), |r, d| async move {
                let row = r.depot().publication_row(&d.def, &r.id()?).await?;
                ok(publications::render(r.depot(), &row).await?)
            }),
        )
        .href(def.href_param, "")
        .params(field_params())
        .responds(200, Some(&format!("{}Response", def.schema)))
        .tag(&tag, "Inspect a publication"),
        Op::new(
            format!("{p}_delete"),
            Method::DELETE,
            &one,
            hd(pdef.clone(), |r, d| async move {
                r.depot().publication_delete(&d.def, &r.id()?).await?;
                Ok(Reply::Empty(StatusCode::NO_CONTENT))
            }),
        )
        .href(def.href_param, "")
        .responds(204, None)
        .tag(&tag, "Delete a publication"),
    ]
}

fn distribution_operations(ddef: DistributionDef) -> Vec<Op> {
    let def = ddef.def.clone();
    let list = format!("{API}distributions/{}/", def.path);
    let one = id_route("distributions", def.path);
    let p = def.op_prefix;
    let tag = format!("Distributions: {}", def.model);
    let mut ops = vec![
        Op::new(
            format!("{p}_list"),
            Method::GET,
            &list,
            hd(ddef.clone(), |r, d| async move {
                Ok(Reply::List(
                    r.depot()
                        .distribution_list(
                            &d.def,
                            &r.query,
                            &r.depot().visible(r.user.as_ref(), d.def.prn_model).await?,
                        )
                        .await?,
                ))
            }),
        )
        .params(list_params(&distributions::list_spec()))
        .responds(200, Some(&format!("Paginated{}ResponseList", def.schema)))
        .tag(&tag, "List distributions"),
        Op::new(
            format!("{p}_create"),
            Method::POST,
            &list,
            hd(ddef.clone(), |mut r, d| async move {
                let b = r.payload().await?;
                let uid = r.user_id();
                Ok(Reply::Outcome(
                    r.depot().distribution_create(&d, &b.fields, uid).await?,
                ))
            }),
        )
        .body(def.schema, JSON_BODY)
        .responds(202, Some("AsyncOperationResponse"))
        .tag(&tag, "Create a distribution"),
        Op::new(
            format!("{p}_read"),
            Method::GET,
            &one,
            hd(ddef.clone(), |r, d| async move {
                let row = r.depot().distribution_row(&d.def, &r.id()?).await?;
                ok(distributions::render(r.depot(), &row))
            }),
        )
        .href(def.href_param, "")
        .params(field_params())
        .responds(200, Some(&format!("{}Response", def.schema)))
        .tag(&tag, "Inspect a distribution"),
        Op::new(
            format!("{p}_delete"),
            Method::DELETE,
            &one,
            hd(ddef.clone(), |r, d| async move {
                let uid = r.user_id();
                Ok(Reply::Outcome(
                    r.depot().distribution_delete(&d, &r.id()?, uid).await?,
                ))
            }),
        )
        .href(def.href_param, "")
        .responds(202, Some("AsyncOperationResponse"))
        .tag(&tag, "Delete a distribution"),
    ];
    ops.extend(update_ops(
        &def,
        &one,
        "distribution",
        ddef.clone(),
        |mut r, d, partial| async move {
            let id = r.id()?;
            let b = r.payload().await?;
            let uid = r.user_id();
            Ok(Reply::Outcome(
                r.depot()
                    .distribution_update(&d, &id, &b.fields, partial, uid)
                    .await?,
            ))
        },
    ));
    ops
}

fn content_operations(cdef: ContentDef) -> Vec<Op> {
    let def = cdef.def.clone();
    let list = format!("{API}content/{}/", def.path);
    let one = id_route("content", def.path);
    let p = def.op_prefix;
    let tag = format!("Content: {}", def.model);
    let mut ops = vec![
        Op::new(
            format!("{p}_list"),
            Method::GET,
            &list,
            hd(cdef.clone(), |r, d| async move {
                let repos = visible_repositories(r.depot(), r.user.as_ref()).await?;
                Ok(Reply::List(
                    r.depot().content_list(&d, &r.query, &repos).await?,
                ))
            }),
        )
        // only the parameters' names and kinds are read here, not their SQL
        .params(list_params(&content::list_spec(
            depot_store::sql::Backend::Sqlite,
            &cdef,
        )))
        .responds(200, Some(&format!("Paginated{}ResponseList", def.schema)))
        .tag(&tag, "List content"),
        Op::new(
            format!("{p}_read"),
            Method::GET,
            &one,
            hd(cdef.clone(), |r, d| async move {
                let row = r.depot().content_row(&d, &r.id()?).await?;
                ok(content::render(r.depot(), &row).await?)
            }),
        )
        .href(def.href_param, "")
        .params(field_params())
        .responds(200, Some(&format!("{}Response", def.schema)))
        .tag(&tag, "Inspect content"),
    ];
    if cdef.upload.is_some() {
        ops.push(
            Op::new(
                format!("{p}_create"),
                Method::POST,
                &list,
                hd(cdef.clone(), |mut r, d| async move {
                    let b = r.payload().await?;
                    if let Some(repo) = b.fields.get("repository").and_then(Value::as_str) {
                        r.depot()
                            .check_href(r.user.as_ref(), repo, "modify")
                            .await?;
                    }
                    // only the upload's owner may turn it into content; someone else's
                    // upload is as unknown as one that does not exist
                    if let Some(upload) = b.fields.get("upload").and_then(Value::as_str)
                        && let Some(id) =
                            href::parse_core(depot_core::resources::strip_origin(upload), "uploads")
                        && r.depot()
                            .check(r.user.as_ref(), &upload_perm("change"), Some(id))
                            .await
                            .is_err()
                    {
                        return Err(ApiError::bad_request(
                            "upload",
                            "Invalid hyperlink - Object does not exist.",
                        ));
                    }
                    let uid = r.user_id();
                    Ok(Reply::Outcome(
                        r.depot().content_create(&d, &b.fields, b.file, uid).await?,
                    ))
                }),
            )
            .body(def.schema, FORM_BODY)
            .responds(202, Some("AsyncOperationResponse"))
            .tag(&tag, "Create content"),
        );
        ops.push(
            Op::new(
                format!("{p}_upload"),
                Method::POST,
                format!("{list}upload/"),
                hd(cdef.clone(), |mut r, d| async move {
                    let b = r.payload().await?;
                    let v = r.depot().content_upload(&d, &b.fields, b.file).await?;
                    Ok(Reply::Outcome(Outcome::Done(v)))
                }),
            )
            .body(&format!("{}Upload", def.schema), FORM_BODY)
            .responds(201, Some(&format!("{}Response", def.schema)))
            .tag(&tag, "Synchronous upload"),
        );
    }
    ops
}

/// A task the caller may see: any for superusers, their own for others (404 otherwise).
async fn own_task(
    depot: &Depot,
    id: &str,
    own_only: Option<i64>,
) -> Result<depot_store::tasks::TaskRow, ApiError> {
    let t = depot.task_read(id).await?;
    match own_only {
        Some(uid) if t.created_by != Some(uid) => Err(ApiError::detail(
            StatusCode::NOT_FOUND,
            "No Task matches the given query.",
        )),
        _ => Ok(t),
    }
}

/// Repositories (of every type) whose content the caller may list.
async fn visible_repositories(
    depot: &Depot,
    user: Option<&depot_core::auth::User>,
) -> Result<Visible, ApiError> {
    let Some(user) = user else {
        return Ok(Visible::Only(Vec::new()));
    };
    if user.is_superuser {
        return Ok(Visible::All);
    }
    let mut ids = Vec::new();
    for rdef in depot.plugins.repositories() {
        match depot.visible(Some(user), rdef.def.prn_model).await? {
            Visible::All => return Ok(Visible::All),
            Visible::Only(more) => ids.extend(more),
        }
    }
    Ok(Visible::Only(ids))
}
