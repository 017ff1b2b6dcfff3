//! `retain_package_versions`: a repository keeps only the newest N versions (by RPM version
//! comparison) of each package name and architecture. Applied when a sync makes a new version.

use std::collections::HashMap;

use rpm_version::Evr;

use depot_core::Depot;
use depot_core::tasks::TaskError;

use crate::units;

/// (content id, name, arch, epoch, version, release)
type PackageRow = (String, String, String, String, String, String);

fn failed(e: impl std::fmt::Display) -> TaskError {
    TaskError::failed(e.to_string())
}

/// Turn the task's staged units (what the sync brings) into the whole next version: the
/// current content plus the staged units, a staged unit replacing the one with its key.
pub async fn stage_whole_version(
    depot: &Depot,
    task: &str,
    repository_id: &str,
    latest: i64,
    repo_key: &str,
) -> Result<(), TaskError> {
    let incoming: Vec<String> =
        sqlx::query_scalar("SELECT content_id FROM sync_staging WHERE task_id = ?")
            .bind(task)
            .fetch_all(&depot.db.read)
            .await
            .map_err(failed)?;
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
    let rows: Vec<PackageRow> = sqlx::query_as(
        "SELECT c.id, json_extract(c.data, '$.name'), json_extract(c.data, '$.arch'), \
         json_extract(c.data, '$.epoch'), json_extract(c.data, '$.version'), \
         json_extract(c.data, '$.release') \
         FROM sync_staging s JOIN content c ON c.id = s.content_id \
         WHERE s.task_id = ? AND c.pulp_type = ?",
    )
    .bind(task)
    .bind(units::PACKAGE)
    .fetch_all(&depot.db.read)
    .await
    .map_err(failed)?;
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
