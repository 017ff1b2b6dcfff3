//! Who may pull from and push to a registry name, as pulp_container decides it.
//!
//! A name is a container distribution's base path; its first segment is its namespace.
//! - pull: anyone from a public distribution; from a private one, holders of
//!   `pull_containerdistribution` on it or `namespace_pull_containerdistribution` on its
//!   namespace. A name nothing is at yet may be "pulled" by whoever may create it (so a first
//!   push asking for `pull,push` gets both), which tells nobody anything.
//! - push: never anonymous; into an existing distribution with `push_containerdistribution`
//!   on it or `namespace_push_containerdistribution` on the namespace; a new name in an
//!   existing namespace with `namespace_add_containerdistribution` on it; a new namespace with
//!   `add_containernamespace`, or when it is the user's own name.

use std::sync::Arc;

use depot_core::Depot;
use depot_core::auth::User;
use depot_core::resources::obj;
use depot_store::records::DistributionRow;

use crate::{DISTRIBUTION_MODEL, DISTRIBUTION_TYPE, NAMESPACE_MODEL};

/// The container distribution whose base path is exactly `name`.
pub async fn distribution(
    depot: &Depot,
    name: &str,
) -> depot_core::Result<Option<Arc<DistributionRow>>> {
    Ok(match depot.distribution_for_path(name).await? {
        Some((d, rest)) if rest.is_empty() && d.pulp_type == DISTRIBUTION_TYPE => Some(d),
        _ => None,
    })
}

pub fn is_private(d: &DistributionRow) -> bool {
    obj(&d.extra).get("private").and_then(|v| v.as_bool()) == Some(true)
}

/// The namespace part of a name.
pub fn namespace_of(name: &str) -> &str {
    name.split('/').next().unwrap_or(name)
}

/// A repository name as the distribution spec allows it: lower-case path components of
/// `[a-z0-9]` separated by `.`, `_`, `__` or dashes, joined by `/`, at most 255 characters.
pub fn valid_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    name.split('/').all(|c| {
        let b = c.as_bytes();
        if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric()
        {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            let ch = b[i];
            if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
                i += 1;
                continue;
            }
            match ch {
                b'.' => {
                    if !b[i + 1].is_ascii_alphanumeric() {
                        return false;
                    }
                    i += 1;
                }
                b'_' => {
                    let n = if b[i + 1] == b'_' { 2 } else { 1 };
                    if !b[i + n].is_ascii_alphanumeric() {
                        return false;
                    }
                    i += n;
                }
                b'-' => {
                    while b[i] == b'-' {
                        i += 1;
                    }
                    if !b[i].is_ascii_alphanumeric() {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        true
    })
}

async fn namespace_perm(
    depot: &Depot,
    user: &User,
    name: &str,
    perm: &str,
) -> depot_core::Result<bool> {
    match depot.db.namespace_by_name(namespace_of(name)).await? {
        Some(ns) => {
            depot
                .has_perm(user, perm, Some((NAMESPACE_MODEL, &ns.id)))
                .await
        }
        None => depot.has_perm(user, perm, None).await,
    }
}

pub async fn may_pull(depot: &Depot, user: Option<&User>, name: &str) -> depot_core::Result<bool> {
    match distribution(depot, name).await? {
        Some(d) => {
            if !is_private(&d) {
                return Ok(true);
            }
            let Some(u) = user else { return Ok(false) };
            Ok(u.is_superuser
                || depot
                    .has_perm(
                        u,
                        "container.pull_containerdistribution",
                        Some((DISTRIBUTION_MODEL, &d.id)),
                    )
                    .await?
                || namespace_perm(
                    depot,
                    u,
                    name,
                    "container.namespace_pull_containerdistribution",
                )
                .await?)
        }
        None => may_push(depot, user, name).await,
    }
}

pub async fn may_push(depot: &Depot, user: Option<&User>, name: &str) -> depot_core::Result<bool> {
    let Some(u) = user else { return Ok(false) };
    if u.is_superuser {
        return Ok(true);
    }
    if let Some(d) = distribution(depot, name).await? {
        return Ok(depot
            .has_perm(
                u,
                "container.push_containerdistribution",
                Some((DISTRIBUTION_MODEL, &d.id)),
            )
            .await?
            || namespace_perm(
                depot,
                u,
                name,
                "container.namespace_push_containerdistribution",
            )
            .await?);
    }
    let ns = namespace_of(name);
    match depot.db.namespace_by_name(ns).await? {
        Some(row) => {
            depot
                .has_perm(
                    u,
                    "container.namespace_add_containerdistribution",
                    Some((NAMESPACE_MODEL, &row.id)),
                )
                .await
        }
        None => Ok(ns == u.username
            || depot
                .has_perm(u, "container.add_containernamespace", None)
                .await?),
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names_follow_the_distribution_spec() {
        for good in ["a", "stackhpc-dev/kolla-base", "a.b/c_d/e__f/g--h", "x9/0"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "-a", "a-", "a..b", "a___b", "a b", "a:b", "../a",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
