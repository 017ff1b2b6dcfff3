//! The generic lists: `/remotes/`, `/repositories/`, `/publications/`, `/distributions/` and
//! `/repository_versions/` (with `/content/` in `content`). They hold every object of a family
//! whatever its type, rendered with the family's own fields only (as Pulp's base serializers
//! render them: each object's typed `pulp_href`, no type-specific fields), filtered like the
//! typed lists plus `pulp_type`, and scoped to what the caller may see: an object appears when
//! the caller may view it through its own type.

use serde_json::Value;

use super::list::{FilterDef, ListSpec, Op, label_select, pulp_type_filter};
use super::{Listed, distributions, publications, remotes, repositories};
use crate::Depot;
use crate::auth::User;
use crate::error::Result;
use crate::fields::Field;
use crate::plugin::Family;
use crate::rbac::Visible;
use depot_store::Filter;
use depot_store::records::{
    DISTRIBUTION_FROM, DISTRIBUTION_SELECT, DistributionRow, PUBLICATION_FROM, PUBLICATION_SELECT,
    PublicationRow, REMOTE_COLUMNS, REPOSITORY_FROM, REPOSITORY_SELECT, RemoteRow, RepositoryRow,
};
use depot_store::versions::{VERSION_FROM, VERSION_SELECT, VersionRow};

/// `pulp_type` and `pulp_type__in` on `expr`.
fn with_type_filters(spec: ListSpec, expr: &str) -> ListSpec {
    spec.filter(FilterDef::new(
        "pulp_type",
        expr,
        Op::Custom(pulp_type_filter),
    ))
    .filter(FilterDef::new(
        "pulp_type__in",
        expr,
        Op::Custom(pulp_type_filter),
    ))
}

pub fn remote_spec() -> ListSpec {
    with_type_filters(remotes::list_spec(), "pulp_type")
}

pub fn repository_spec() -> ListSpec {
    with_type_filters(repositories::list_spec(), "r.pulp_type")
}

pub fn publication_spec() -> ListSpec {
    with_type_filters(publications::list_spec(), "p.pulp_type")
}

pub fn distribution_spec() -> ListSpec {
    with_type_filters(distributions::list_spec(), "d.pulp_type")
}

pub fn version_spec() -> ListSpec {
    repositories::version_list_spec()
}

/// `pulp_label_select` on a labels column.
pub fn label_filter(expr: &str) -> FilterDef {
    FilterDef::new("pulp_label_select", expr, Op::Custom(label_select))
}

/// Keep only the family's own fields of a typed rendering.
fn base_fields(mut v: Value, fields: &[Field]) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|k, _| fields.iter().any(|f| f.name == k && !f.write_only));
    }
    v
}

impl Depot {
    /// What `user` may see of `family`, over all its types: `None` when everything, else a
    /// filter on the type column `type_expr` and id column `id_expr`.
    pub async fn family_scope(
        &self,
        user: Option<&User>,
        family: Family,
        type_expr: &str,
        id_expr: &str,
    ) -> Result<Option<Filter>> {
        if user.is_some_and(|u| u.is_superuser) {
            return Ok(None);
        }
        let mut groups = Vec::new();
        let mut everything = true;
        let types: Vec<(&str, &str)> = self
            .plugins
            .type_defs(family)
            .map(|d| (d.pulp_type, d.prn_model))
            .collect();
        for (pulp_type, model) in types {
            let of_type = Filter::Eq(type_expr.to_string(), pulp_type.into());
            match self.visible(user, model).await? {
                Visible::All => groups.push(vec![of_type]),
                Visible::Only(ids) => {
                    everything = false;
                    if !ids.is_empty() {
                        groups.push(vec![
                            of_type,
                            Filter::In(
                                id_expr.to_string(),
                                ids.into_iter().map(Into::into).collect(),
                            ),
                        ]);
                    }
                }
            }
        }
        Ok((!everything).then_some(Filter::Any(groups)))
    }

    pub async fn remote_list_all(
        &self,
        params: &[(String, String)],
        user: Option<&User>,
    ) -> Result<Listed> {
        let mut q = remote_spec().build(self, params)?;
        q.filters.extend(
            self.family_scope(user, Family::Remotes, "pulp_type", "id")
                .await?,
        );
        let page = q
            .run::<RemoteRow>(&self.db, REMOTE_COLUMNS, "remotes")
            .await?;
        Ok(Listed::of(&q, &page, |r| {
            base_fields(remotes::render(self, r), remotes::COMMON)
        }))
    }

    pub async fn repository_list_all(
        &self,
        params: &[(String, String)],
        user: Option<&User>,
    ) -> Result<Listed> {
        let mut q = repository_spec().build(self, params)?;
        q.filters.extend(
            self.family_scope(user, Family::Repositories, "r.pulp_type", "r.id")
                .await?,
        );
        let page = q
            .run::<RepositoryRow>(&self.db, REPOSITORY_SELECT, REPOSITORY_FROM)
            .await?;
        Ok(Listed::of(&q, &page, |r| {
            base_fields(repositories::render(self, r), repositories::COMMON)
        }))
    }

    pub async fn publication_list_all(
        &self,
        params: &[(String, String)],
        user: Option<&User>,
    ) -> Result<Listed> {
        let mut q = publication_spec().build(self, params)?;
        q.filters.extend(
            self.family_scope(user, Family::Publications, "p.pulp_type", "p.id")
                .await?,
        );
        q.filters.push(Filter::Eq("p.complete".into(), true.into()));
        let page = q
            .run::<PublicationRow>(&self.db, PUBLICATION_SELECT, PUBLICATION_FROM)
            .await?;
        let mut results = Vec::with_capacity(page.items.len());
        for p in &page.items {
            results.push(base_fields(
                publications::render(self, p).await?,
                publications::COMMON,
            ));
        }
        Ok(Listed {
            count: page.count,
            results,
            limit: q.limit,
            offset: q.offset,
        })
    }

    pub async fn distribution_list_all(
        &self,
        params: &[(String, String)],
        user: Option<&User>,
    ) -> Result<Listed> {
        let mut q = distribution_spec().build(self, params)?;
        q.filters.extend(
            self.family_scope(user, Family::Distributions, "d.pulp_type", "d.id")
                .await?,
        );
        let page = q
            .run::<DistributionRow>(&self.db, DISTRIBUTION_SELECT, DISTRIBUTION_FROM)
            .await?;
        Ok(Listed::of(&q, &page, |d| {
            base_fields(distributions::render(self, d), distributions::COMMON)
        }))
    }

    /// Every complete version of every repository the caller may see.
    pub async fn version_list_all(
        &self,
        params: &[(String, String)],
        user: Option<&User>,
    ) -> Result<Listed> {
        let mut q = version_spec().build(self, params)?;
        q.filters.extend(
            self.family_scope(user, Family::Repositories, "r.pulp_type", "v.repository_id")
                .await?,
        );
        q.filters.push(Filter::Eq("v.complete".into(), true.into()));
        let page = q
            .run::<VersionRow>(&self.db, VERSION_SELECT, VERSION_FROM)
            .await?;
        Ok(Listed::of(&q, &page, |v| {
            repositories::render_version(self, v)
        }))
    }
}
