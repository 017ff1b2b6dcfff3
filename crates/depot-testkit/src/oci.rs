//! Container images for the registry tests and benchmarks: OCI image layouts built with
//! `umoci` (real layers of deterministic bytes), copied around with `skopeo`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::require;

/// Deterministic pseudo-random bytes (xorshift), `len` of them from `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Build an OCI layout at `dir` holding `tag`: one layer per entry of `layers` (its size in
/// bytes of noise, seeded from `seed` and the layer's index). Returns the layout's path.
pub fn build_image(dir: &Path, tag: &str, layers: &[usize], seed: u64) -> PathBuf {
    let umoci = require("umoci", "DEPOT_UMOCI");
    let image = format!("{}:{tag}", dir.display());
    if !dir.join("index.json").exists() {
        run(Command::new(&umoci).arg("init").arg("--layout").arg(dir));
    }
    run(Command::new(&umoci).args(["new", "--image", &image]));
    for (i, size) in layers.iter().enumerate() {
        let bundle = dir.with_extension(format!("bundle-{tag}-{i}"));
        let _ = std::fs::remove_dir_all(&bundle);
        run(Command::new(&umoci)
            .args(["unpack", "--rootless", "--image", &image])
            .arg(&bundle));
        std::fs::write(
            bundle.join("rootfs").join(format!("layer-{i}.bin")),
            noise(*size, seed * 1000 + i as u64),
        )
        .expect("write layer file");
        run(Command::new(&umoci)
            .args(["repack", "--image", &image])
            .arg(&bundle));
        std::fs::remove_dir_all(&bundle).expect("remove bundle");
    }
    dir.to_path_buf()
}

/// The digest a layout's index gives `tag` (the manifest's).
pub fn layout_digest(dir: &Path, tag: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index.json"))
            .expect("index.json is JSON");
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .and_then(|m| m["digest"].as_str())
        .unwrap_or_else(|| panic!("{tag} is not in {}", dir.display()))
        .to_string()
}

/// Run skopeo with its own auth file and policy (accept anything: these are test images);
/// returns (success, stdout, stderr).
pub fn skopeo(home: &Path, args: &[&str]) -> (bool, String, String) {
    let skopeo = require("skopeo", "DEPOT_SKOPEO");
    std::fs::create_dir_all(home).expect("skopeo home");
    let policy = home.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .expect("policy");
    let out = Command::new(skopeo)
        .arg("--policy")
        .arg(&policy)
        .args(args)
        .env("HOME", home)
        .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
        .env("XDG_RUNTIME_DIR", home)
        .output()
        .expect("run skopeo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Debian's `docker-registry` (the CNCF distribution registry) on a loopback port, storing in
/// a directory; stopped when dropped.
pub struct DistributionRegistry {
    child: std::process::Child,
    /// e.g. `127.0.0.1:41234`
    pub host: String,
    _dir: tempfile::TempDir,
}

impl Drop for DistributionRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DistributionRegistry {
    pub async fn start() -> DistributionRegistry {
        let bin = crate::tools::debian_tool("docker-registry", "docker-registry");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("registry config");
        let mut child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        for _ in 0..200 {
            if client
                .get(format!("http://{host}/v2/"))
                .send()
                .await
                .is_ok()
            {
                return DistributionRegistry {
                    child,
                    host,
                    _dir: dir,
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("docker-registry did not start on {host}");
    }
}
