//! Operations for access control: users, groups and their members, roles, role assignments,
//! content guards, and the role actions every guarded object has (`add_role/`,
//! `remove_role/`, `list_roles/`, `my_permissions/`).

use axum::http::{Method, StatusCode};
use serde_json::json;

use depot_core::plugin::TypeDef;
use depot_core::rbac::{Perm, Visible};
use depot_core::resources::{Outcome, content_guards, users};
use depot_core::{Family, href};

use crate::error::ApiError;
use crate::ops::{JSON_BODY, Op, Param, Reply, h, hd, ok};
use crate::routes::{field_params, list_params};

const API: &str = href::API_ROOT;

/// Users, groups, members, roles and assignments: superusers only (Pulp's default policy).
pub fn operations() -> Vec<Op> {
    let mut ops = vec![
        Op::new(
            "users_list",
            Method::GET,
            format!("{API}users/"),
            h(|r| async move { Ok(Reply::List(r.depot().user_list(&r.query).await?)) }),
        )
        .params(list_params(&users::user_list_spec()))
        .responds(200, Some("PaginatedUserResponseList"))
        .tag("Users", "List users"),
        Op::new(
            "users_create",
            Method::POST,
            format!("{API}users/"),
            h(|mut r| async move {
                let b = r.payload().await?;
                Ok(Reply::Outcome(Outcome::Done(
                    r.depot().user_create(&b.fields).await?,
                )))
            }),
        )
        .body("User", JSON_BODY)
        .responds(201, Some("UserResponse"))
        .tag("Users", "Create a user"),
        Op::new(
            "users_read",
            Method::GET,
            format!("{API}users/{{id}}/"),
            h(|r| async move {
                let u = r.depot().user_row(&r.id()?).await?;
                ok(r.depot().render_user(&u).await?)
            }),
        )
        .href("auth_user_href", "")
        .params(field_params())
        .responds(200, Some("UserResponse"))
        .tag("Users", "Inspect a user"),
        Op::new(
            "users_delete",
            Method::DELETE,
            format!("{API}users/{{id}}/"),
            h(|r| async move {
                r.depot().user_delete(&r.id()?).await?;
                Ok(Reply::Empty(StatusCode::NO_CONTENT))
            }),
        )
        .href("auth_user_href", "")
        .responds(204, None)
        .tag("Users", "Delete a user"),
        Op::new(
            "groups_list",
            Method::GET,
            format!("{API}groups/"),
            h(|r| async move { Ok(Reply::List(r.depot().group_list(&r.query).await?)) }),
        )
        .params(list_params(&users::group_list_spec()))
        .responds(200, Some("PaginatedGroupResponseList"))
        .tag("Groups", "List groups"),
        Op::new(
            "groups_create",
            Method::POST,
            format!("{API}groups/"),
            h(|mut r| async move {
                let b = r.payload().await?;
                Ok(Reply::Outcome(Outcome::Done(
                    r.depot().group_create(&b.fields).await?,
                )))
            }),
        )
        .body("Group", JSON_BODY)
        .responds(201, Some("GroupResponse"))
        .tag("Groups", "Create a group"),
        Op::new(
            "groups_read",
            Method::GET,
            format!("{API}groups/{{id}}/"),
            h(|r| async move {
                let g = r.depot().group_row(&r.id()?).await?;
                ok(depot_core::Depot::render_group(&g))
            }),
        )
        .href("group_href", "")
        .params(field_params())
        .responds(200, Some("GroupResponse"))
        .tag("Groups", "Inspect a group"),
        Op::new(
            "groups_delete",
            Method::DELETE,
            format!("{API}groups/{{id}}/"),
            h(|r| async move {
                r.depot().group_delete(&r.id()?).await?;
                Ok(Reply::Empty(StatusCode::NO_CONTENT))
            }),
        )
        .href("group_href", "")
        .responds(204, None)
        .tag("Groups", "Delete a group"),
        Op::new(
            "groups_users_list",
            Method::GET,
            format!("{API}groups/{{id}}/users/"),
            h(|r| async move {
                Ok(Reply::List(
                    r.depot().group_members(&r.id()?, &r.query).await?,
                ))
            }),
        )
        .href("group_href", "users/")
        .params(list_params(&users::user_list_spec()))
        .responds(200, Some("PaginatedGroupUserResponseList"))
        .tag("Groups: Users", "List users of a group"),
        Op::new(
            "groups_users_create",
            Method::POST,
            format!("{API}groups/{{id}}/users/"),
            h(|mut r| async move {
                let id = r.id()?;
                let b = r.payload().await?;
                Ok(Reply::Outcome(Outcome::Done(
                    r.depot().group_add_member(&id, &b.fields).await?,
                )))
            }),
        )
        .href("group_href", "users/")
        .body("GroupUser", JSON_BODY)
        .responds(201, Some("GroupUserResponse"))
        .tag("Groups: Users", "Add a user to a group"),
        Op::new(
            "groups_users_delete",
            Method::DELETE,
            format!("{API}groups/{{id}}/users/{{user}}/"),
            h(|r| async move {
                let user = r.path.get("user").cloned().unwrap_or_default();
                r.depot().group_remove_member(&r.id()?, &user).await?;
                Ok(Reply::Empty(StatusCode::NO_CONTENT))
            }),
        )
        .href("groups_user_href", "")
        .responds(204, None)
        .tag("Groups: Users", "Remove a user from a group"),
        Op::new(
            "roles_list",
            Method::GET,
            format!("{API}roles/"),
            h(|r| async move { Ok(Reply::List(r.depot().role_list(&r.query).await?)) }),
        )
        .params(list_params(&users::role_list_spec()))
        .params(vec![Param::query(
            "for_object_type",
            json!({"type": "string"}),
        )])
        .responds(200, Some("PaginatedRoleResponseList"))
        .tag("Roles", "List roles"),
        Op::new(
            "roles_create",
            Method::POST,
            format!("{API}roles/"),
            h(|mut r| async move {
                let b = r.payload().await?;
                Ok(Reply::Outcome(Outcome::Done(
                    r.depot().role_create(&b.fields).await?,
                )))
            }),
        )
        .body("Role", JSON_BODY)
        .responds(201, Some("RoleResponse"))
        .tag("Roles", "Create a role"),
        Op::new(
            "roles_read",
            Method::GET,
            format!("{API}roles/{{id}}/"),
            h(|r| async move {
                ok(depot_core::Depot::render_role(
                    &r.depot().role_row(&r.id()?).await?,
                ))
            }),
        )
        .href("role_href", "")
        .params(field_params())
        .responds(200, Some("RoleResponse"))
        .tag("Roles", "Inspect a role"),
        Op::new(
            "roles_delete",
            Method::DELETE,
            format!("{API}roles/{{id}}/"),
            h(|r| async move {
                r.depot().role_delete(&r.id()?).await?;
                Ok(Reply::Empty(StatusCode::NO_CONTENT))
            }),
        )
        .href("role_href", "")
        .responds(204, None)
        .tag("Roles", "Delete a role"),
    ];
    for (method, action, partial) in [
        (Method::PATCH, "partial_update", true),
        (Method::PUT, "update", false),
    ] {
        let prefix = if partial { "Patched" } else { "" };
        ops.push(
            Op::new(
                format!("users_{action}"),
                method.clone(),
                format!("{API}users/{{id}}/"),
                hd(partial, |mut r, partial| async move {
                    let id = r.id()?;
                    let b = r.payload().await?;
                    ok(r.depot().user_update(&id, &b.fields, partial).await?)
                }),
            )
            .href("auth_user_href", "")
            .body(&format!("{prefix}User"), JSON_BODY)
            .responds(200, Some("UserResponse"))
            .tag("Users", "Update a user"),
        );
        ops.push(
            Op::new(
                format!("groups_{action}"),
                method.clone(),
                format!("{API}groups/{{id}}/"),
                hd(partial, |mut r, partial| async move {
                    let id = r.id()?;
                    let b = r.payload().await?;
                    ok(r.depot().group_update(&id, &b.fields, partial).await?)
                }),
            )
            .href("group_href", "")
            .body(&format!("{prefix}Group"), JSON_BODY)
            .responds(200, Some("GroupResponse"))
            .tag("Groups", "Update a group"),
        );
        ops.push(
            Op::new(
                format!("roles_{action}"),
                method,
                format!("{API}roles/{{id}}/"),
                hd(partial, |mut r, partial| async move {
                    let id = r.id()?;
                    let b = r.payload().await?;
                    ok(r.depot().role_update(&id, &b.fields, partial).await?)
                }),
            )
            .href("role_href", "")
            .body(&format!("{prefix}Role"), JSON_BODY)
            .responds(200, Some("RoleResponse"))
            .tag("Roles", "Update a role"),
        );
    }
    for (kind, is_users, param) in [
        ("users", true, "auth_users_user_role_href"),
        ("groups", false, "groups_group_role_href"),
    ] {
        let parent = if is_users {
            "auth_user_href"
        } else {
            "group_href"
        };
        let tag = if is_users {
            "Users: Roles"
        } else {
            "Groups: Roles"
        };
        let schema = if is_users { "UserRole" } else { "GroupRole" };
        ops.push(
            Op::new(
                format!("{kind}_roles_list"),
                Method::GET,
                format!("{API}{kind}/{{id}}/roles/"),
                hd(is_users, |r, users| async move {
                    let holder = r.depot().holder(users, &r.id()?).await?;
                    Ok(Reply::List(
                        r.depot().assignment_list(holder, &r.query).await?,
                    ))
                }),
            )
            .href(parent, "roles/")
            .params(list_params(&users::assignment_list_spec()))
            .responds(200, Some(&format!("Paginated{schema}ResponseList")))
            .tag(tag, "List role assignments"),
        );
        ops.push(
            Op::new(
                format!("{kind}_roles_create"),
                Method::POST,
                format!("{API}{kind}/{{id}}/roles/"),
                hd(is_users, |mut r, users| async move {
                    let holder = r.depot().holder(users, &r.id()?).await?;
                    let b = r.payload().await?;
                    Ok(Reply::Outcome(Outcome::Done(
                        r.depot().assignment_create(holder, &b.fields).await?,
                    )))
                }),
            )
            .href(parent, "roles/")
            .body(schema, JSON_BODY)
            .responds(201, Some(&format!("{schema}Response")))
            .tag(tag, "Assign a role"),
        );
        ops.push(
            Op::new(
                format!("{kind}_roles_read"),
                Method::GET,
                format!("{API}{kind}/{{id}}/roles/{{role}}/"),
                hd(is_users, |r, users| async move {
                    let holder = r.depot().holder(users, &r.id()?).await?;
                    let role = r.path.get("role").cloned().unwrap_or_default();
                    ok(r.depot().assignment_read(holder, &role).await?)
                }),
            )
            .href(param, "")
            .params(field_params())
            .responds(200, Some(&format!("{schema}Response")))
            .tag(tag, "Inspect a role assignment"),
        );
        ops.push(
            Op::new(
                format!("{kind}_roles_delete"),
                Method::DELETE,
                format!("{API}{kind}/{{id}}/roles/{{role}}/"),
                hd(is_users, |r, users| async move {
                    let holder = r.depot().holder(users, &r.id()?).await?;
                    let role = r.path.get("role").cloned().unwrap_or_default();
                    r.depot().assignment_delete(holder, &role).await?;
                    Ok(Reply::Empty(StatusCode::NO_CONTENT))
                }),
            )
            .href(param, "")
            .responds(204, None)
            .tag(tag, "Remove a role assignment"),
        );
    }
    ops.push(
        Op::new(
            "contentguards_list",
            Method::GET,
            format!("{API}contentguards/"),
            h(|r| async move {
                let visible = visible_guards(r.depot(), r.user.as_ref()).await?;
                Ok(Reply::List(
                    r.depot()
                        .content_guard_list(None, &r.query, &visible)
                        .await?,
                ))
            }),
        )
        .perm(Perm::Authenticated)
        .params(list_params(&content_guards::list_spec()))
        .responds(200, Some("PaginatedContentGuardResponseList"))
        .tag("Contentguards", "List content guards"),
    );
    ops
}

/// Guards of every type the caller may see.
async fn visible_guards(
    depot: &depot_core::Depot,
    user: Option<&depot_core::auth::User>,
) -> Result<Visible, ApiError> {
    let Some(user) = user else {
        return Ok(Visible::Only(Vec::new()));
    };
    if user.is_superuser {
        return Ok(Visible::All);
    }
    let mut ids = Vec::new();
    let models: Vec<&str> = depot
        .plugins
        .type_defs(Family::ContentGuards)
        .map(|d| d.prn_model)
        .collect();
    for model in models {
        match depot.visible(Some(user), model).await? {
            Visible::All => return Ok(Visible::All),
            Visible::Only(more) => ids.extend(more),
        }
    }
    Ok(Visible::Only(ids))
}

/// List, create, read, update and delete of one content guard type (all synchronous).
pub fn content_guard_operations(def: TypeDef) -> Vec<Op> {
    let list = format!("{API}contentguards/{}/", def.path);
    let one = format!("{list}{{id}}/");
    let p = def.op_prefix;
    let tag = format!("Contentguards: {}", def.model);
    let mut ops = vec![
        Op::new(
            format!("{p}_list"),
            Method::GET,
            &list,
            hd(def.clone(), |r, d| async move {
                let visible = r.depot().visible(r.user.as_ref(), d.prn_model).await?;
                Ok(Reply::List(
                    r.depot()
                        .content_guard_list(Some(&d), &r.query, &visible)
                        .await?,
                ))
            }),
        )
        .params(list_params(&content_guards::list_spec()))
        .responds(200, Some(&format!("Paginated{}ResponseList", def.schema)))
        .tag(&tag, "List content guards"),
        Op::new(
            format!("{p}_create"),
            Method::POST,
            &list,
            hd(def.clone(), |mut r, d| async move {
                let b = r.payload().await?;
                Ok(Reply::Outcome(Outcome::Done(
                    r.depot().content_guard_create(&d, &b.fields).await?,
                )))
            }),
        )
        .body(def.schema, JSON_BODY)
        .responds(201, Some(&format!("{}Response", def.schema)))
        .tag(&tag, "Create a content guard"),
        Op::new(
            format!("{p}_read"),
            Method::GET,
            &one,
            hd(def.clone(), |r, d| async move {
                let g = r.depot().content_guard_row(&d, &r.id()?).await?;
                ok(content_guards::render(r.depot(), &g).await?)
            }),
        )
        .href(def.href_param, "")
        .params(field_params())
        .responds(200, Some(&format!("{}Response", def.schema)))
        .tag(&tag, "Inspect a content guard"),
        Op::new(
            format!("{p}_delete"),
            Method::DELETE,
            &one,
            hd(def.clone(), |r, d| async move {
                r.depot().content_guard_delete(&d, &r.id()?).await?;
                Ok(Reply::Empty(StatusCode::NO_CONTENT))
            }),
        )
        .href(def.href_param, "")
        .responds(204, None)
        .tag(&tag, "Delete a content guard"),
    ];
    for (method, action, partial) in [
        (Method::PATCH, "partial_update", true),
        (Method::PUT, "update", false),
    ] {
        let body = if partial {
            format!("Patched{}", def.schema)
        } else {
            def.schema.to_string()
        };
        ops.push(
            Op::new(
                format!("{p}_{action}"),
                method,
                &one,
                hd((def.clone(), partial), |mut r, (d, partial)| async move {
                    let id = r.id()?;
                    let b = r.payload().await?;
                    ok(r.depot()
                        .content_guard_update(&d, &id, &b.fields, partial)
                        .await?)
                }),
            )
            .href(def.href_param, "")
            .body(&body, JSON_BODY)
            .responds(200, Some(&format!("{}Response", def.schema)))
            .tag(&tag, "Update a content guard"),
        );
    }
    ops
}

/// `list_roles/`, `my_permissions/`, `add_role/`, `remove_role/` of one object type.
pub fn object_role_operations(def: &TypeDef) -> Vec<Op> {
    let one = format!("{API}{}/{}/{{id}}/", def.family.segment(), def.path);
    let p = def.op_prefix;
    let tag = format!("{}: {}", def.family.title(), def.model);
    let model = def.prn_model.to_string();
    let mut ops = vec![
        Op::new(
            format!("{p}_list_roles"),
            Method::GET,
            format!("{one}list_roles/"),
            hd(model.clone(), |r, m| async move {
                ok(r.depot().object_list_roles(&m, &r.id()?).await?)
            }),
        )
        .href(def.href_param, "list_roles/")
        .params(field_params())
        .responds(200, Some("ObjectRolesResponse"))
        .tag(&tag, "List roles assigned to this object"),
        Op::new(
            format!("{p}_my_permissions"),
            Method::GET,
            format!("{one}my_permissions/"),
            hd(model.clone(), |r, m| async move {
                let user = r.user()?.clone();
                ok(r.depot().object_my_permissions(&user, &m, &r.id()?).await?)
            }),
        )
        .href(def.href_param, "my_permissions/")
        .params(field_params())
        .responds(200, Some("MyPermissionsResponse"))
        .tag(
            &tag,
            "List permissions available to the current user on this object",
        ),
    ];
    for (action, add) in [("add_role", true), ("remove_role", false)] {
        ops.push(
            Op::new(
                format!("{p}_{action}"),
                Method::POST,
                format!("{one}{action}/"),
                hd((model.clone(), add), |mut r, (m, add)| async move {
                    let id = r.id()?;
                    let b = r.payload().await?;
                    Ok(Reply::Outcome(
                        r.depot()
                            .object_change_role(&m, &id, &b.fields, add)
                            .await?,
                    ))
                }),
            )
            .href(def.href_param, &format!("{action}/"))
            .body("NestedRole", JSON_BODY)
            .responds(201, Some("NestedRoleResponse"))
            .tag(
                &tag,
                if add {
                    "Add a role for this object to users/groups"
                } else {
                    "Remove a role for this object from users/groups"
                },
            ),
        );
    }
    ops
}
