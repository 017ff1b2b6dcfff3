//! Building and parsing Pulp hrefs (`/pulp/api/v3/remotes/file/file/<uuid>/`) and PRNs.

use crate::plugin::{Family, Plugins, TypeDef};

pub const API_ROOT: &str = "/pulp/api/v3/";

pub fn object(family: Family, def_path: &str, id: &str) -> String {
    format!("{API_ROOT}{}/{def_path}/{id}/", family.segment())
}

pub fn of(def: &TypeDef, id: &str) -> String {
    object(def.family, def.path, id)
}

pub fn version(repository_href: &str, number: i64) -> String {
    format!("{repository_href}versions/{number}/")
}

pub fn task(id: &str) -> String {
    format!("{API_ROOT}tasks/{id}/")
}

pub fn artifact(id: &str) -> String {
    format!("{API_ROOT}artifacts/{id}/")
}

pub fn user(id: i64) -> String {
    format!("{API_ROOT}users/{id}/")
}

pub fn upload(id: &str) -> String {
    format!("{API_ROOT}uploads/{id}/")
}

pub fn prn(model: &str, id: &str) -> String {
    format!("prn:{model}:{id}")
}

/// An href taken apart.
#[derive(Clone, Debug)]
pub struct Parsed<'a> {
    pub family: Family,
    pub def: &'a TypeDef,
    pub id: String,
    /// For repository version hrefs.
    pub version: Option<i64>,
}

/// Parse an href of a typed object (or a repository version). `None` when it is not one.
pub fn parse<'a>(plugins: &'a Plugins, href: &str) -> Option<Parsed<'a>> {
    let rest = href.strip_prefix(API_ROOT)?.strip_suffix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    let (family, path, id, version) = match parts.as_slice() {
        [f, app, ty, id] => (*f, format!("{app}/{ty}"), *id, None),
        [f, app, ty, id, "versions", n] => {
            (*f, format!("{app}/{ty}"), *id, Some(n.parse::<i64>().ok()?))
        }
        _ => return None,
    };
    let family = Family::from_segment(family)?;
    if version.is_some() && family != Family::Repositories {
        return None;
    }
    uuid::Uuid::parse_str(id).ok()?;
    let def = plugins.type_def_at(family, &path)?;
    Some(Parsed {
        family,
        def,
        id: id.to_string(),
        version,
    })
}

/// Parse a core href like `/pulp/api/v3/tasks/<uuid>/` and return the id.
pub fn parse_core<'a>(href: &'a str, segment: &str) -> Option<&'a str> {
    let rest = href.strip_prefix(API_ROOT)?.strip_prefix(segment)?;
    let id = rest.strip_prefix('/')?.strip_suffix('/')?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}
