//! Who may do what: built-in roles, permission checks and the policy seam every API operation
//! goes through.
//!
//! Permissions are Pulp's (`file.view_filerepository`, `core.download_rbaccontentguard`);
//! roles bundle them; users and groups hold roles on a whole model or on one object.
//! Superusers may do everything. Decisions are cached until users, groups or roles change
//! (an auth event).

use crate::Depot;
use crate::auth::User;
use crate::cache::EventCache;
use crate::error::{CoreError, Result};
use crate::plugin::{Family, Plugins, TypeDef};
use depot_store::rbac::Holder;

/// What an operation requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Anyone, without credentials (status, docs).
    Anonymous,
    /// Any authenticated user; the handler scopes what they see.
    Authenticated,
    /// Superusers only.
    Admin,
    /// A model-level permission, e.g. `file.add_fileremote`.
    Model(String),
    /// A permission on the object named by the request path, e.g. `file.sync_filerepository`
    /// on a `file.filerepository`.
    Object { perm: String, model: String },
}

/// Which objects of a model a user may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visible {
    All,
    Only(Vec<String>),
}

/// `file.view_fileremote` from `file.fileremote` and `view`.
pub fn permission(prn_model: &str, action: &str) -> String {
    let (app, model) = prn_model.split_once('.').unwrap_or(("core", prn_model));
    format!("{app}.{action}_{model}")
}

/// A built-in role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleDef {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

fn role(name: String, description: String, permissions: Vec<String>) -> RoleDef {
    RoleDef {
        name,
        description,
        permissions,
    }
}

/// creator / owner / viewer roles of one type.
fn type_roles(def: &TypeDef) -> Vec<RoleDef> {
    let m = def.prn_model;
    let p = |a: &str| permission(m, a);
    let mut owner = vec![p("view"), p("change"), p("delete"), p("manage_roles")];
    match def.family {
        Family::Repositories => {
            owner.extend([
                p("sync"),
                p("modify"),
                p("repair"),
                format!("{}_version", p("delete")),
            ]);
        }
        Family::Publications => owner.retain(|x| !x.contains(".change_")),
        _ => {}
    }
    owner.sort();
    vec![
        role(
            format!("{m}_creator"),
            format!("Create {}s", def.model),
            vec![p("add")],
        ),
        role(
            format!("{m}_owner"),
            format!("Manage one {}", def.model),
            owner,
        ),
        role(
            format!("{m}_viewer"),
            format!("View one {}", def.model),
            vec![p("view")],
        ),
    ]
}

/// Every built-in role for the registered types, plus core and container roles.
pub fn builtin_roles(plugins: &Plugins) -> Vec<RoleDef> {
    let mut roles = fixed_roles();
    for family in [
        Family::Remotes,
        Family::Repositories,
        Family::Publications,
        Family::Distributions,
        Family::ContentGuards,
    ] {
        for def in plugins.type_defs(family) {
            roles.extend(type_roles(def));
        }
    }
    // a fixed role wins over the generated one of the same name (it comes first, the sort
    // is stable and dedup keeps the first)
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    roles.dedup_by(|a, b| a.name == b.name);
    roles
}

/// Roles whose permissions are not the generic creator / owner / viewer set.
fn fixed_roles() -> Vec<RoleDef> {
    let mut roles = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    roles.push(role(
        "core.rbaccontentguard_downloader".into(),
        "Download content guarded by one RBAC content guard".into(),
        s(&["core.download_rbaccontentguard"]),
    ));
    for (name, perms) in [
        (
            "core.task_owner",
            &["core.view_task", "core.change_task", "core.delete_task"][..],
        ),
        ("core.task_viewer", &["core.view_task"]),
        ("core.upload_creator", &["core.add_upload"]),
        (
            "core.upload_owner",
            &[
                "core.view_upload",
                "core.change_upload",
                "core.delete_upload",
            ],
        ),
        ("core.upload_viewer", &["core.view_upload"]),
        ("core.group_creator", &["core.add_group"]),
        (
            "core.group_owner",
            &[
                "core.view_group",
                "core.change_group",
                "core.delete_group",
                "core.manage_roles_group",
            ],
        ),
        ("core.group_viewer", &["core.view_group"]),
        ("file.file_uploader", &["file.upload_files"]),
        // container registry roles (used by the container content type)
        (
            "container.containernamespace_creator",
            &["container.add_containernamespace"],
        ),
        (
            "container.containernamespace_owner",
            &[
                "container.view_containernamespace",
                "container.delete_containernamespace",
                "container.manage_roles_containernamespace",
                "container.namespace_add_containerdistribution",
                "container.namespace_change_containerdistribution",
                "container.namespace_delete_containerdistribution",
                "container.namespace_view_containerdistribution",
                "container.namespace_pull_containerdistribution",
                "container.namespace_push_containerdistribution",
                "container.namespace_view_containerpushrepository",
                "container.namespace_change_containerpushrepository",
                "container.namespace_modify_content_containerpushrepository",
            ],
        ),
        (
            "container.containernamespace_collaborator",
            &[
                "container.view_containernamespace",
                "container.namespace_add_containerdistribution",
                "container.namespace_change_containerdistribution",
                "container.namespace_view_containerdistribution",
                "container.namespace_pull_containerdistribution",
                "container.namespace_push_containerdistribution",
                "container.namespace_view_containerpushrepository",
                "container.namespace_change_containerpushrepository",
                "container.namespace_modify_content_containerpushrepository",
            ],
        ),
        (
            "container.containernamespace_consumer",
            &[
                "container.view_containernamespace",
                "container.namespace_view_containerdistribution",
                "container.namespace_pull_containerdistribution",
                "container.namespace_view_containerpushrepository",
            ],
        ),
        (
            "container.containerdistribution_creator",
            &["container.add_containerdistribution"],
        ),
        (
            "container.containerdistribution_owner",
            &[
                "container.view_containerdistribution",
                "container.change_containerdistribution",
                "container.delete_containerdistribution",
                "container.pull_containerdistribution",
                "container.push_containerdistribution",
                "container.manage_roles_containerdistribution",
                "container.view_containerpushrepository",
                "container.modify_content_containerpushrepository",
            ],
        ),
        (
            "container.containerdistribution_collaborator",
            &[
                "container.view_containerdistribution",
                "container.pull_containerdistribution",
                "container.push_containerdistribution",
                "container.view_containerpushrepository",
                "container.modify_content_containerpushrepository",
            ],
        ),
        (
            "container.containerdistribution_consumer",
            &[
                "container.view_containerdistribution",
                "container.pull_containerdistribution",
            ],
        ),
    ] {
        roles.push(role(name.into(), format!("Built-in role {name}"), s(perms)));
    }
    roles
}

/// Cached permission decisions, forgotten when users, groups or roles change.
#[derive(Debug)]
pub struct PermissionCache {
    decisions: EventCache<PermKey, bool>,
}

/// (user id, permission, object (model, id))
#[derive(Clone, Debug, PartialEq, Eq)]
struct PermKey(i64, String, Option<(String, String)>);

/// A `PermKey` borrowed from the question, to look up without allocating.
#[derive(Hash)]
struct PermKeyRef<'a>(i64, &'a str, Option<(&'a str, &'a str)>);

impl std::hash::Hash for PermKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        PermKeyRef(
            self.0,
            &self.1,
            self.2.as_ref().map(|(m, i)| (m.as_str(), i.as_str())),
        )
        .hash(h)
    }
}

impl crate::cache::Equivalent<PermKey> for PermKeyRef<'_> {
    fn equivalent(&self, k: &PermKey) -> bool {
        self.0 == k.0
            && self.1 == k.1
            && self.2 == k.2.as_ref().map(|(m, i)| (m.as_str(), i.as_str()))
    }
}

impl PermissionCache {
    pub fn new(events: &depot_store::Events) -> PermissionCache {
        PermissionCache {
            decisions: EventCache::new(events, depot_store::Topic::Auth, 100_000),
        }
    }
}

impl Depot {
    /// Create or refresh the built-in roles.
    pub async fn seed_roles(&self) -> Result<()> {
        for r in builtin_roles(&self.plugins) {
            self.db
                .role_upsert_locked(&r.name, &r.description, &r.permissions)
                .await?;
        }
        Ok(())
    }

    /// Whether `user` holds `perm` on the model or on `object` (model, id).
    pub async fn has_perm(
        &self,
        user: &User,
        perm: &str,
        object: Option<(&str, &str)>,
    ) -> Result<bool> {
        if user.is_superuser {
            return Ok(true);
        }
        if let Some(d) = self
            .permissions
            .decisions
            .get(&PermKeyRef(user.id, perm, object))
        {
            return Ok(d);
        }
        let generation = self.permissions.decisions.generation();
        let decision = self.db.has_permission(user.id, perm, object).await?;
        let key = PermKey(
            user.id,
            perm.to_string(),
            object.map(|(t, i)| (t.to_string(), i.to_string())),
        );
        self.permissions.decisions.insert(key, decision, generation);
        Ok(decision)
    }

    /// The policy seam: may `user` (None: anonymous) do what `perm` requires? `object_id` is
    /// the id from the request path for object permissions. Objects the user may not even
    /// view answer 404, like Pulp, so their existence is not revealed.
    pub async fn check(
        &self,
        user: Option<&User>,
        perm: &Perm,
        object_id: Option<&str>,
    ) -> Result<()> {
        if *perm == Perm::Anonymous {
            return Ok(());
        }
        let Some(user) = user else {
            return Err(CoreError::Unauthenticated(
                "Authentication credentials were not provided.".into(),
            ));
        };
        if user.is_superuser {
            return Ok(());
        }
        let denied =
            || CoreError::Forbidden("You do not have permission to perform this action.".into());
        match perm {
            Perm::Anonymous | Perm::Authenticated => Ok(()),
            Perm::Admin => Err(denied()),
            Perm::Model(p) => {
                if self.has_perm(user, p, None).await? {
                    Ok(())
                } else {
                    Err(denied())
                }
            }
            Perm::Object { perm, model } => {
                let id = object_id.unwrap_or_default();
                if self.has_perm(user, perm, Some((model, id))).await? {
                    return Ok(());
                }
                let view = permission(model, "view");
                if *perm != view && self.has_perm(user, &view, Some((model, id))).await? {
                    Err(denied())
                } else {
                    Err(CoreError::NotFound("Not found.".into()))
                }
            }
        }
    }

    /// Require `action` on the object an href names (e.g. `modify` on the repository an upload
    /// adds to). Hrefs that name nothing are left to the caller's validation.
    pub async fn check_href(&self, user: Option<&User>, href: &str, action: &str) -> Result<()> {
        let Some(p) = crate::href::parse(&self.plugins, crate::resources::strip_origin(href))
        else {
            return Ok(());
        };
        let perm = Perm::Object {
            perm: permission(p.def.prn_model, action),
            model: p.def.prn_model.to_string(),
        };
        self.check(user, &perm, Some(&p.id)).await
    }

    /// Which objects of `model` `user` may see (for list endpoints).
    pub async fn visible(&self, user: Option<&User>, model: &str) -> Result<Visible> {
        match user {
            Some(u) if u.is_superuser => Ok(Visible::All),
            Some(u) => Ok(
                match self
                    .db
                    .objects_with_permission(u.id, &permission(model, "view"), model)
                    .await?
                {
                    None => Visible::All,
                    Some(ids) => Visible::Only(ids),
                },
            ),
            None => Ok(Visible::Only(Vec::new())),
        }
    }

    /// Give the creator of an object its owner role (Pulp does this for every object a
    /// non-superuser creates). RBAC guards also let their creator download.
    pub async fn grant_owner(&self, user_id: i64, href: &str) -> Result<()> {
        let Some(user) = self.db.user_get(user_id).await? else {
            return Ok(());
        };
        if user.is_superuser {
            return Ok(());
        }
        let (model, id) = if let Some(id) = crate::href::parse_core(href, "uploads") {
            ("core.upload", id.to_string())
        } else {
            match crate::href::parse(&self.plugins, href) {
                Some(p) if p.version.is_none() => (p.def.prn_model, p.id),
                _ => return Ok(()),
            }
        };
        let mut names = vec![format!("{model}_owner")];
        if model == "core.rbaccontentguard" {
            names.push("core.rbaccontentguard_downloader".into());
        }
        for name in names {
            if let Some(role) = self.db.role_by_name(&name).await? {
                match self
                    .db
                    .assign_role(Holder::User(user_id), &role.id, Some((model, &id)))
                    .await
                {
                    Ok(_) | Err(depot_store::StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_named_like_pulp() {
        assert_eq!(
            permission("file.filerepository", "sync"),
            "file.sync_filerepository"
        );
        assert_eq!(
            permission("core.rbaccontentguard", "download"),
            "core.download_rbaccontentguard"
        );
    }
}
