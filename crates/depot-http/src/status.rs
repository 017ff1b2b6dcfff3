//! `/status/`: versions, this process as worker/API/content app, database and storage.

use serde_json::{Map, Value, json};

use depot_core::{CONTENT_PATH_PREFIX, Depot};

/// `{component: version}` as advertised in the OpenAPI document's `x-pulp-app-versions`;
/// `/status/` must report exactly the same pairs or pulp-cli keeps refreshing its cache.
pub fn app_versions(depot: &Depot) -> Map<String, Value> {
    depot
        .plugins
        .list
        .iter()
        .map(|p| (p.app_label.to_string(), Value::from(p.version)))
        .collect()
}

/// (total, used, free) bytes of the filesystem holding the data directory.
fn disk_usage(path: &std::path::Path) -> Option<(u64, u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let frsize = s.f_frsize as u64;
    let total = s.f_blocks as u64 * frsize;
    let free = s.f_bavail as u64 * frsize;
    let used = total - s.f_bfree as u64 * frsize;
    Some((total, used, free))
}

pub async fn status(depot: &Depot) -> Value {
    let versions: Vec<Value> = depot
        .plugins
        .list
        .iter()
        .map(|p| {
            let module = if p.app_label == "core" {
                "pulpcore.app".to_string()
            } else {
                format!("pulp_{}.app", p.app_label)
            };
            json!({
                "component": p.app_label,
                "version": p.version,
                "package": p.package,
                "module": module,
                "domain_compatible": true,
            })
        })
        .collect();
    // every process that heartbeat recently, by role (this one at least, even before its
    // first heartbeat was written)
    let fresh = chrono::Utc::now()
        - chrono::Duration::from_std(depot_core::tasks::GONE_AFTER).expect("short duration");
    let fresh = depot_store::format_time(fresh);
    let mut online: Vec<depot_store::tasks::WorkerRow> = depot
        .db
        .workers()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|w| w.last_heartbeat >= fresh && w.name != depot.process_name)
        .collect();
    online.insert(
        0,
        depot_store::tasks::WorkerRow {
            name: depot.process_name.clone(),
            roles: serde_json::to_string(&depot.config.roles.names()).expect("roles"),
            pid: 0,
            host: depot.host.clone(),
            started_at: String::new(),
            last_heartbeat: depot_store::now(),
        },
    );
    let versions_of_apps = app_versions(depot);
    let with_role = |role: &str| -> Value {
        online
            .iter()
            .filter(|w| {
                serde_json::from_str::<Vec<String>>(&w.roles)
                    .unwrap_or_default()
                    .iter()
                    .any(|r| r == role)
            })
            .map(|w| {
                json!({
                    "name": w.name,
                    "last_heartbeat": w.last_heartbeat,
                    "versions": versions_of_apps,
                })
            })
            .collect()
    };
    let storage = match disk_usage(&depot.config.data_dir) {
        Some((total, used, free)) => json!({"total": total, "used": used, "free": free}),
        None => Value::Null,
    };
    json!({
        "versions": versions,
        "online_workers": with_role("worker"),
        "online_api_apps": with_role("api"),
        "online_content_apps": with_role("content"),
        "database_connection": {"connected": depot.db.ping().await},
        "redis_connection": {"connected": false},
        "storage": storage,
        "content_settings": {
            "content_origin": depot.config.content_origin,
            "content_path_prefix": CONTENT_PATH_PREFIX,
        },
        "domain_enabled": false,
    })
}
