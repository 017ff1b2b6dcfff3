//! External client tools the end-to-end tests drive (pulp-cli, later dnf, apt, skopeo...).
//!
//! A missing tool is a test failure, never a skip: `scripts/test` installs them all, and a
//! test that silently skipped would hide exactly the breakage it exists to find.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Find an executable: the environment variable `env` (an explicit path) first, then `PATH`.
pub fn find(name: &str, env: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The tool, or a panic that says how to get it.
pub fn require(name: &str, env: &str) -> PathBuf {
    find(name, env).unwrap_or_else(|| {
        panic!(
            "`{name}` is needed by this test but was not found (set {env} or put it on PATH). \
             scripts/test installs every tool the tests use."
        )
    })
}

/// Run pulp-cli against a depot server with its own config/cache directories; returns
/// (success, stdout, stderr).
pub fn pulp(pulp: &Path, base_url: &str, home: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(pulp)
        .arg("--base-url")
        .arg(base_url)
        .arg("--username")
        .arg("admin")
        .arg("--password")
        .arg(crate::ADMIN_PASSWORD)
        .args(args)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", home)
        .env_remove("PULP_BASE_URL")
        .output()
        .expect("run pulp-cli");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A tool from a Debian package, installed with apt-get when missing (benchmarks bring their
/// own peers, such as nginx and wrk). Panics naming the package when it cannot be had.
pub fn debian_tool(name: &str, package: &str) -> PathBuf {
    if let Some(p) = find(name, "DEPOT_NO_SUCH_VARIABLE") {
        return p;
    }
    for dir in ["/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    eprintln!("installing {package} (for {name}) with apt-get");
    let root = unsafe { libc::geteuid() } == 0;
    let apt = |args: &[&str]| {
        let mut c = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        c.env("DEBIAN_FRONTEND", "noninteractive")
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !apt(&["install", "-y", "-qq", package]) {
        apt(&["update", "-qq"]);
        apt(&["install", "-y", "-qq", package]);
    }
    find(name, "DEPOT_NO_SUCH_VARIABLE")
        .or_else(|| {
            ["/usr/sbin", "/sbin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("`{name}` is needed; install the Debian package {package}"))
}
