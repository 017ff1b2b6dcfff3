//! `retain_package_versions`: a repository keeps only the newest N versions (by RPM version
//! comparison) of each package name and architecture. Applied when a sync makes a new version.

use std::collections::HashMap;

use rpm_version::Evr;

use depot_core::Depot;
use depot_core::tasks::TaskError;

use crate::units;

/// (content id, name, arch, epoch, version, release)
type PackageRow = (String, String, String, String, String, String);

/// Turn the task's staged units (what the sync brings) into the whole next version: the
/// current content plus the staged units, a staged unit replacing the one with its key.
pub async fn stage_whole_version(
    depot: &Depot,
    task: &str,
    repository_id: &str,
    latest: i64,
    repo_key: &str,
) -> Result<(), TaskError> {
    let incoming = depot.db.staged_content_ids(task).await?;
    depot
        .db
        .stage_version_content(task, repository_id, latest)
        .await?;
    depot
        .db
        .unstage_key_conflicts(task, &incoming, repo_key)
        .await?;
    Ok(())
}

/// Unstage every staged package older than the `keep` newest of its name and arch; returns
/// how many were dropped.
pub async fn drop_old_versions(depot: &Depot, task: &str, keep: usize) -> Result<usize, TaskError> {
    let rows: Vec<PackageRow> = depot
        .db
        .staged_unit_fields(
            task,
            units::PACKAGE,
            &["name", "arch", "epoch", "version", "release"],
        )
        .await?
        .into_iter()
        .filter_map(|(id, f)| match <[String; 5]>::try_from(f) {
            Ok([name, arch, epoch, version, release]) => {
                Some((id, name, arch, epoch, version, release))
            }
            Err(_) => None,
        })
        .collect();
    let drop = older_than_newest(&rows, keep);
    depot.db.unstage_content(task, &drop).await?;
    Ok(drop.len())
}

/// Ids of packages beyond the `keep` newest of their (name, arch). Rows are (id, name, arch,
/// epoch, version, release).
fn older_than_newest(rows: &[PackageRow], keep: usize) -> Vec<String> {
    let mut by_name: HashMap<(&str, &str), Vec<&PackageRow>> = HashMap::new();
    for r in rows {
        by_name.entry((&r.1, &r.2)).or_default().push(r);
    }
    let mut drop = Vec::new();
    for (_, mut list) in by_name {
        if list.len() <= keep {
            continue;
        }
        list.sort_by(|a, b| {
            let ea = Evr::new(a.3.as_str(), a.4.as_str(), a.5.as_str());
            let eb = Evr::new(b.3.as_str(), b.4.as_str(), b.5.as_str());
            eb.cmp(&ea)
        });
        drop.extend(list[keep..].iter().map(|r| r.0.clone()));
    }
    drop
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str, e: &str, v: &str, r: &str) -> PackageRow {
        (
            id.into(),
            name.into(),
            "x86_64".into(),
            e.into(),
            v.into(),
            r.into(),
        )
    }

    #[test]
    fn keeps_the_newest_by_rpm_version_order() {
        let rows = vec![
            row("a", "foo", "0", "1.9", "1"),
            row("b", "foo", "0", "1.10", "1"),
            row("c", "foo", "0", "1.10", "2"),
            row("d", "foo", "1", "0.1", "1"),
            row("e", "bar", "0", "1", "1"),
        ];
        let mut dropped = older_than_newest(&rows, 2);
        dropped.sort();
        // epoch 1 wins, then 1.10-2; 1.10-1 and 1.9 go; bar has one version
        assert_eq!(dropped, ["a", "b"]);
        assert!(older_than_newest(&rows, 5).is_empty());
    }
}
