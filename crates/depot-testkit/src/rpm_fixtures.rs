//! RPM repository fixtures: real `.rpm` files built with `rpmbuild`, real yum/dnf
//! repositories made with `createrepo_c`/`modifyrepo_c` (advisories, comps, modules, GnuPG
//! signatures, `../` locations, every compression), mirror lists and metalinks, synthetic
//! repodata for benchmarks, and a `dnf` runner that proves a repository is valid.
//!
//! # Public API
//!
//! Packages:
//! - [`PackageSpec`] (+ [`ChangelogEntry`]): what to build; `PackageSpec::new(name, version,
//!   release)` then set fields. `files` are `(absolute path, size)`; `/etc/*` files are
//!   `%config(noreplace)`, directories named after the package are owned (`%dir`).
//! - [`build_rpm`]`(out_dir, &spec) -> PathBuf` builds (or takes from the process-wide cache)
//!   and writes `out_dir/<name>-<version>-<release>.<arch>.rpm`. Builds are reproducible: the
//!   same spec gives the same bytes in every process (fixed build time/host, file mtimes).
//! - [`build_rpms`]`(out_dir, &[spec]) -> Vec<PathBuf>`: several, in parallel.
//! - [`standard_packages`]`() -> Vec<PackageSpec>` (6 packages, see there) and
//!   [`build_standard`]`(out_dir) -> Vec<PathBuf>`.
//! - [`native_arch`]`()`: `x86_64`/`aarch64` on those hosts (rpmbuild `--target` only accepts
//!   the host's arch family), else `noarch`.
//!
//! Repositories:
//! - [`RepoOptions`] (checksum, compress, [`PackageLayout`], xml_base, updateinfo/advisories,
//!   comps, modules, sign_with_gpg/signing_key, sqlite); `RepoOptions::full()` turns everything on.
//! - [`create_repo`]`(dir, &[rpm paths], &opts) -> RepoInfo`. [`RepoInfo`] has the dir, the
//!   `repomd.xml` path, the packages ([`RepoPackage`]: NEVRA, sha256, pkgid, location_href),
//!   the advisories ([`Advisory`]), module streams ([`ModuleStream`]), comps ids, and the
//!   signing key ([`GpgKey`]: GnuPG home, fingerprint, armored public key) when signed.
//!   `PackageLayout::Outside("pool")` stores packages in `dir/../pool/` with
//!   `location_href="../pool/<file>"`.
//! - [`parse_repomd`], [`RepoInfo::records`], [`read_repodata`] (decompressed text of a record),
//!   [`read_decompressed`], [`file_digest`] (sha1/sha224/sha256/sha384/sha512), [`rpmvercmp`].
//! - [`default_advisories`], [`updateinfo_xml`], [`default_modules`], [`modules_yaml`],
//!   [`comps_xml`], [`add_repodata`] (any extra record through `modifyrepo_c`).
//! - [`GpgKey::generate`], [`GpgKey::sign_detached`], [`GpgKey::verify`], [`gpg_verify_with_key`].
//!
//! Mirrors: [`write_mirrorlist`]`(path, &[base_url])`, [`write_metalink`]`(path, repomd,
//! &[base_url])` / [`metalink_xml`] (MirrorManager's metalink 3.0 shape).
//!
//! Benchmarks: [`synthetic_repodata`]`(dir, n_packages, files_per_package, seed) ->
//! SyntheticRepo` streams primary/filelists/other (gzip) + `repomd.xml` for packages that do
//! not exist as files; [`synthetic_package`]`(index, files_per_package, seed)` regenerates any
//! one of them (names, NEVRA, location_href) without the rest.
//!
//! Clients: [`dnf`]`(root, &[DnfRepo], args) -> DnfOutput` runs the host's dnf with a private
//! config, install root and repo dir (no host configuration, no plugins, no proxies,
//! `skip_if_unavailable=False` so a broken repository is an error rather than a warning);
//! [`dnf_repoquery`]`(root, DnfRepo, extra) -> Vec<String>` (sorted `name-epoch:ver-rel.arch`).
//!
//! Tools (`tools::require`, a missing one is a panic): `rpmbuild` (RPMBUILD), `rpm` (RPM),
//! `createrepo_c` (CREATEREPO_C), `modifyrepo_c` (MODIFYREPO_C), `gpg` (GPG), `dnf` (DNF),
//! `zstd` (ZSTD, for zstd repositories: this createrepo_c 0.17 has no zstd, so the fixture
//! recompresses its gzip output), `xz`/`bzip2` to read such records, `sha1sum` for sha1.
//! `gpgconf` (GPGCONF) stops the gpg-agents of throwaway homes.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use crate::fixtures::Rng;
use crate::tools::require;

// ---------------------------------------------------------------------------------------------
// Packages
// ---------------------------------------------------------------------------------------------

/// One `%changelog` entry. `author` is everything after the date on the `*` line, e.g.
/// `"Jane Doe <jane@example.com> - 1.0-1"`; `text` is the body (`- ` is added when missing).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChangelogEntry {
    /// Unix seconds; only the day is kept by rpm.
    pub time: i64,
    pub author: String,
    pub text: String,
}

impl ChangelogEntry {
    pub fn new(time: i64, author: &str, text: &str) -> ChangelogEntry {
        ChangelogEntry {
            time,
            author: author.to_string(),
            text: text.to_string(),
        }
    }
}

/// What to build. `arch` is `noarch` or the host's arch (see [`native_arch`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PackageSpec {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub summary: String,
    /// Empty: the summary.
    pub description: String,
    pub license: String,
    /// Spec syntax, e.g. `"depot-base >= 1.0"`.
    pub requires: Vec<String>,
    pub provides: Vec<String>,
    pub conflicts: Vec<String>,
    pub obsoletes: Vec<String>,
    /// `(absolute path, size in bytes)`; content is deterministic pseudo-random data (text
    /// under `/etc` and `/usr/share/doc`).
    pub files: Vec<(String, u64)>,
    /// Any order; written newest first.
    pub changelog: Vec<ChangelogEntry>,
}

impl Default for PackageSpec {
    fn default() -> Self {
        PackageSpec {
            name: String::new(),
            epoch: None,
            version: "1.0".into(),
            release: "1".into(),
            arch: "noarch".into(),
            summary: String::new(),
            description: String::new(),
            license: "MIT".into(),
            requires: vec![],
            provides: vec![],
            conflicts: vec![],
            obsoletes: vec![],
            files: vec![],
            changelog: vec![],
        }
    }
}

impl PackageSpec {
    /// A noarch package with one file `/usr/share/<name>/README` and one changelog entry.
    pub fn new(name: &str, version: &str, release: &str) -> PackageSpec {
        PackageSpec {
            name: name.into(),
            version: version.into(),
            release: release.into(),
            summary: format!("The {name} test package"),
            files: vec![(format!("/usr/share/{name}/README"), 256)],
            changelog: vec![ChangelogEntry::new(
                1_704_067_200,
                &format!("Depot Fixtures <fixtures@depot.invalid> - {version}-{release}"),
                &format!("- Build {name} {version}"),
            )],
            ..Default::default()
        }
    }
    pub fn epoch_num(&self) -> u32 {
        self.epoch.unwrap_or(0)
    }
    /// `name-epoch:version-release.arch` (epoch always present, as in modulemd and Pulp).
    pub fn nevra(&self) -> String {
        format!(
            "{}-{}:{}-{}.{}",
            self.name,
            self.epoch_num(),
            self.version,
            self.release,
            self.arch
        )
    }
    /// The file rpmbuild writes: `name-version-release.arch.rpm`.
    pub fn filename(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }
}

/// The arch to use for "binary" packages: the host's when rpmbuild can target it.
/// (On Debian's rpm 4.18 `--target` only works within the host's arch family: `aarch64` or
/// `i686` on an x86_64 host fail with "No compatible architectures found for build".)
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        _ => "noarch",
    }
}

const FIXTURE_EPOCH: i64 = 1_704_067_200; // 2024-01-01

fn day(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d) * 86_400
}

/// A small varied set (6 rpms, 5 names), all `depot-*`:
/// - `depot-base-1.0-1.noarch`: no epoch, files under `/usr/share/depot-base/`, provides
///   `depot-base-data = 1.0`;
/// - `depot-tool-1:2.3-4.<native>`: epoch 1, requires `depot-base >= 1.0`, files
///   `/usr/bin/depot-tool` and `/etc/depot-tool.conf` (both land in primary.xml);
/// - `depot-docs-0.9-2.noarch`: four changelog entries, docs under `/usr/share/doc/`;
/// - `depot-lib-3.1-1.<native>` and `depot-lib-3.2-1.<native>`: two versions of one name;
/// - `depot-extra-0.5-1.noarch`: requires `libdepot.so.3()(64bit)` (from depot-lib); the
///   default module stream's artifact.
pub fn standard_packages() -> Vec<PackageSpec> {
    let arch = native_arch().to_string();
    let who = "Depot Fixtures <fixtures@depot.invalid>";
    let lib = |version: &str, entries: Vec<ChangelogEntry>| PackageSpec {
        name: "depot-lib".into(),
        version: version.into(),
        release: "1".into(),
        arch: arch.clone(),
        summary: "Shared library of the depot fixtures".into(),
        provides: vec!["libdepot.so.3()(64bit)".into()],
        files: vec![
            (format!("/usr/lib64/libdepot.so.{version}"), 8192),
            ("/usr/share/doc/depot-lib/NEWS".into(), 700),
        ],
        changelog: entries,
        ..Default::default()
    };
    vec![
        PackageSpec {
            name: "depot-base".into(),
            version: "1.0".into(),
            release: "1".into(),
            summary: "Base data of the depot fixtures".into(),
            description: "Shared data files that the other depot fixture packages use.".into(),
            provides: vec!["depot-base-data = 1.0".into()],
            files: vec![
                ("/usr/share/depot-base/README".into(), 300),
                ("/usr/share/depot-base/data/table.dat".into(), 4096),
            ],
            changelog: vec![ChangelogEntry::new(
                day(2024, 1, 10),
                &format!("{who} - 1.0-1"),
                "- Initial package",
            )],
            ..Default::default()
        },
        PackageSpec {
            name: "depot-tool".into(),
            epoch: Some(1),
            version: "2.3".into(),
            release: "4".into(),
            arch: arch.clone(),
            summary: "Command line tool of the depot fixtures".into(),
            requires: vec!["depot-base >= 1.0".into()],
            provides: vec!["depot-cli = 2.3".into()],
            files: vec![
                ("/usr/bin/depot-tool".into(), 12_000),
                ("/etc/depot-tool.conf".into(), 120),
                ("/usr/share/man/man1/depot-tool.1".into(), 900),
            ],
            changelog: vec![
                ChangelogEntry::new(day(2024, 2, 1), &format!("{who} - 1:2.3-4"), "- Rebuild"),
                ChangelogEntry::new(
                    day(2023, 11, 20),
                    &format!("{who} - 1:2.3-1"),
                    "- Update to 2.3",
                ),
            ],
            ..Default::default()
        },
        PackageSpec {
            name: "depot-docs".into(),
            version: "0.9".into(),
            release: "2".into(),
            summary: "Documentation of the depot fixtures".into(),
            files: vec![
                ("/usr/share/doc/depot-docs/guide.txt".into(), 2500),
                ("/usr/share/doc/depot-docs/faq.txt".into(), 1200),
            ],
            changelog: vec![
                ChangelogEntry::new(
                    day(2024, 3, 4),
                    &format!("{who} - 0.9-2"),
                    "- Fix typos in the guide\n- Add the FAQ",
                ),
                ChangelogEntry::new(
                    day(2024, 1, 15),
                    &format!("{who} - 0.9-1"),
                    "- Update to 0.9",
                ),
                ChangelogEntry::new(
                    day(2023, 9, 1),
                    "Jane Doe <jane@depot.invalid> - 0.8-1",
                    "- Update to 0.8 (rhbz#100001)",
                ),
                ChangelogEntry::new(
                    day(2023, 6, 12),
                    "Jane Doe <jane@depot.invalid> - 0.7-1",
                    "- Initial import",
                ),
            ],
            ..Default::default()
        },
        lib(
            "3.1",
            vec![ChangelogEntry::new(
                day(2024, 1, 5),
                &format!("{who} - 3.1-1"),
                "- Update to 3.1",
            )],
        ),
        lib(
            "3.2",
            vec![
                ChangelogEntry::new(
                    day(2024, 4, 2),
                    &format!("{who} - 3.2-1"),
                    "- Update to 3.2 (CVE-2024-10001)",
                ),
                ChangelogEntry::new(
                    day(2024, 1, 5),
                    &format!("{who} - 3.1-1"),
                    "- Update to 3.1",
                ),
            ],
        ),
        PackageSpec {
            name: "depot-extra".into(),
            version: "0.5".into(),
            release: "1".into(),
            summary: "Optional extras of the depot fixtures".into(),
            requires: vec!["libdepot.so.3()(64bit)".into(), "depot-base".into()],
            files: vec![("/usr/share/depot-extra/extras.dat".into(), 1500)],
            changelog: vec![ChangelogEntry::new(
                day(2024, 2, 20),
                &format!("{who} - 0.5-1"),
                "- Initial package",
            )],
            ..Default::default()
        },
    ]
}

type BuildCache = Mutex<HashMap<PackageSpec, Arc<OnceLock<Vec<u8>>>>>;

/// Build `spec` (once per process: later calls copy the cached bytes) and write it to
/// `out_dir/<spec.filename()>`; returns that path.
pub fn build_rpm(out_dir: &Path, spec: &PackageSpec) -> PathBuf {
    static CACHE: OnceLock<BuildCache> = OnceLock::new();
    let cell = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(spec.clone())
        .or_default()
        .clone();
    let bytes = cell.get_or_init(|| build_rpm_bytes(spec));
    std::fs::create_dir_all(out_dir).expect("create rpm output dir");
    let path = out_dir.join(spec.filename());
    std::fs::write(&path, bytes).expect("write rpm");
    path
}

/// Several packages, built in parallel; paths in the order of `specs`.
pub fn build_rpms(out_dir: &Path, specs: &[PackageSpec]) -> Vec<PathBuf> {
    std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| s.spawn(move || build_rpm(out_dir, spec)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("rpm build thread"))
            .collect()
    })
}

/// [`standard_packages`], built into `out_dir`.
pub fn build_standard(out_dir: &Path) -> Vec<PathBuf> {
    build_rpms(out_dir, &standard_packages())
}

fn seed_of(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    u64::from_le_bytes(h.finalize()[..8].try_into().unwrap())
}

fn file_content(name: &str, path: &str, size: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed_of(&[name, path]));
    let mut data = vec![0u8; size as usize];
    if path.starts_with("/etc/") || path.starts_with("/usr/share/doc/") {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz     \n";
        for b in data.iter_mut() {
            *b = ALPHABET[(rng.next_u64() % ALPHABET.len() as u64) as usize];
        }
    } else {
        rng.fill(&mut data);
    }
    data
}

/// The directories a package owns: those from the first path component that contains the
/// package name down to each file's parent (`/usr/share/<name>/data/x` owns
/// `/usr/share/<name>` and `/usr/share/<name>/data`).
fn owned_dirs(spec: &PackageSpec) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for (path, _) in &spec.files {
        let comps: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let parents = &comps[..comps.len().saturating_sub(1)];
        if let Some(first) = parents.iter().position(|c| c.contains(spec.name.as_str())) {
            for end in first..parents.len() {
                dirs.insert(format!("/{}", parents[..=end].join("/")));
            }
        }
    }
    dirs
}

fn spec_text(spec: &PackageSpec, payload: &Path, source_date: i64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Name: {}", spec.name);
    if let Some(e) = spec.epoch {
        let _ = writeln!(s, "Epoch: {e}");
    }
    let _ = writeln!(s, "Version: {}", spec.version);
    let _ = writeln!(s, "Release: {}", spec.release);
    let summary = if spec.summary.is_empty() {
        format!("The {} test package", spec.name)
    } else {
        spec.summary.clone()
    };
    let _ = writeln!(s, "Summary: {summary}");
    let _ = writeln!(s, "License: {}", spec.license);
    let _ = writeln!(s, "URL: https://depot.invalid/{}", spec.name);
    if spec.arch == "noarch" {
        let _ = writeln!(s, "BuildArch: noarch");
    }
    let _ = writeln!(s, "AutoReqProv: no");
    for (tag, list) in [
        ("Requires", &spec.requires),
        ("Provides", &spec.provides),
        ("Conflicts", &spec.conflicts),
        ("Obsoletes", &spec.obsoletes),
    ] {
        for v in list {
            let _ = writeln!(s, "{tag}: {v}");
        }
    }
    let description = if spec.description.is_empty() {
        &summary
    } else {
        &spec.description
    };
    let _ = writeln!(s, "\n%description\n{description}\n");
    let _ = writeln!(s, "%prep\n\n%build\n\n%install");
    let _ = writeln!(s, "mkdir -p %{{buildroot}}");
    let _ = writeln!(s, "cp -a '{}/.' %{{buildroot}}/", payload.display());
    let _ = writeln!(
        s,
        "find %{{buildroot}} -exec touch -h -d @{source_date} {{}} +\n"
    );
    let _ = writeln!(s, "%files");
    for d in owned_dirs(spec) {
        let _ = writeln!(s, "%dir \"{d}\"");
    }
    for (path, _) in &spec.files {
        if path.starts_with("/etc/") {
            let _ = writeln!(s, "%config(noreplace) \"{path}\"");
        } else {
            let _ = writeln!(s, "\"{path}\"");
        }
    }
    if !spec.changelog.is_empty() {
        let _ = writeln!(s, "\n%changelog");
        let mut entries = spec.changelog.clone();
        entries.sort_by_key(|e| std::cmp::Reverse(e.time));
        for e in entries {
            let _ = writeln!(s, "* {} {}", changelog_date(e.time), e.author);
            for line in e.text.lines() {
                if line.starts_with('-') || line.starts_with(' ') {
                    let _ = writeln!(s, "{line}");
                } else {
                    let _ = writeln!(s, "- {line}");
                }
            }
            let _ = writeln!(s);
        }
    }
    s
}

fn build_rpm_bytes(spec: &PackageSpec) -> Vec<u8> {
    assert!(!spec.name.is_empty(), "PackageSpec needs a name");
    let rpmbuild = require("rpmbuild", "RPMBUILD");
    let tmp = tempfile::Builder::new()
        .prefix("depot-rpmbuild-")
        .tempdir()
        .expect("rpmbuild tempdir");
    let payload = tmp.path().join("payload");
    std::fs::create_dir_all(&payload).expect("payload dir");
    for (path, size) in &spec.files {
        assert!(path.starts_with('/'), "file paths are absolute: {path}");
        let target = payload.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).expect("payload subdir");
        std::fs::write(&target, file_content(&spec.name, path, *size)).expect("payload file");
    }
    let source_date = spec
        .changelog
        .iter()
        .map(|e| e.time)
        .max()
        .unwrap_or(FIXTURE_EPOCH);
    let spec_path = tmp.path().join(format!("{}.spec", spec.name));
    std::fs::write(&spec_path, spec_text(spec, &payload, source_date)).expect("write spec");
    let top = tmp.path().join("top");
    let mut cmd = Command::new(rpmbuild);
    cmd.arg("-bb")
        .arg("--quiet")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg(format!("_rpmdir {}", top.join("RPMS").display()))
        .arg("--define")
        .arg("_rpmfilename %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm")
        .arg("--define")
        .arg("_binary_payload w6.gzdio")
        .arg("--define")
        .arg("debug_package %{nil}")
        .arg("--define")
        .arg("__os_install_post %{nil}")
        .arg("--define")
        .arg("use_source_date_epoch_as_buildtime 1")
        .arg("--define")
        .arg("_buildhost fixtures.depot.invalid");
    if spec.arch != "noarch" {
        cmd.arg("--target").arg(&spec.arch);
    }
    let out = cmd
        .arg(&spec_path)
        .env("SOURCE_DATE_EPOCH", source_date.to_string())
        .env("HOME", tmp.path())
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .output()
        .expect("run rpmbuild");
    assert!(
        out.status.success(),
        "rpmbuild failed for {}:\n{}\n{}",
        spec.nevra(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(top.join("RPMS").join(spec.filename())).expect("read built rpm")
}

// ---------------------------------------------------------------------------------------------
// Repositories
// ---------------------------------------------------------------------------------------------

/// Where `create_repo` puts the packages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageLayout {
    /// In the repository root: `location_href="<file>"`.
    Flat,
    /// `dir/<sub>/<file>` (`Subdir("Packages")` is the default).
    Subdir(String),
    /// Fedora's: `dir/<sub>/<first letter of the name>/<file>`.
    ByFirstLetter(String),
    /// Outside the repository, next to it: `dir/../<pool>/<file>` with
    /// `location_href="../<pool>/<file>"`. createrepo_c indexes the pool with
    /// `--location-prefix ../<pool>/` and `-o dir`, so checksums in repomd.xml are right and
    /// dnf resolves (and downloads) the packages.
    Outside(String),
}

/// How `create_repo` makes the repository.
#[derive(Clone, Debug)]
pub struct RepoOptions {
    /// `sha256` (default), `sha1`, `sha512` (also `sha224`, `sha384`): package checksums
    /// and repomd.xml checksums (createrepo_c `-s`).
    pub checksum: String,
    /// `gz` (default), `xz`, `bz2`, `zstd`: compression of every record (with `zstd`: of
    /// primary, filelists, other, updateinfo and modules; comps stays `group` + `group_gz`).
    pub compress: String,
    pub layout: PackageLayout,
    /// `<location xml:base="...">` on every package (createrepo_c `--baseurl`).
    pub xml_base: Option<String>,
    /// Add `updateinfo` (the given advisories, or [`default_advisories`]).
    pub updateinfo: bool,
    pub advisories: Option<Vec<Advisory>>,
    /// Add `group`/`group_gz` from [`comps_xml`].
    pub comps: bool,
    /// Add `modules` from [`default_modules`] (or the given streams).
    pub modules: bool,
    pub module_streams: Option<Vec<ModuleStream>>,
    /// Write `repodata/repomd.xml.asc` (detached, armored) and `repodata/repomd.xml.key`.
    pub sign_with_gpg: bool,
    /// Sign with this key instead of a new one.
    pub signing_key: Option<Arc<GpgKey>>,
    /// Also the sqlite databases (off by default, like createrepo_c 1.x).
    pub sqlite: bool,
}

impl Default for RepoOptions {
    fn default() -> Self {
        RepoOptions {
            checksum: "sha256".into(),
            compress: "gz".into(),
            layout: PackageLayout::Subdir("Packages".into()),
            xml_base: None,
            updateinfo: false,
            advisories: None,
            comps: false,
            modules: false,
            module_streams: None,
            sign_with_gpg: false,
            signing_key: None,
            sqlite: false,
        }
    }
}

impl RepoOptions {
    /// updateinfo, comps, modules and a signature.
    pub fn full() -> RepoOptions {
        RepoOptions {
            updateinfo: true,
            comps: true,
            modules: true,
            sign_with_gpg: true,
            ..Default::default()
        }
    }
}

/// A package as the repository lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoPackage {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub sourcerpm: String,
    pub filename: String,
    /// As in primary.xml (`Packages/x.rpm`, `../pool/x.rpm`...).
    pub location_href: String,
    /// Where the file is on disk.
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// The checksum in the repository's checksum type (primary's `pkgid`).
    pub pkgid: String,
}

impl RepoPackage {
    /// `name-epoch:version-release.arch`
    pub fn nevra(&self) -> String {
        format!(
            "{}-{}:{}-{}.{}",
            self.name, self.epoch, self.version, self.release, self.arch
        )
    }
    /// `name-version-release.arch`
    pub fn nvra(&self) -> String {
        format!(
            "{}-{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }
}

/// One advisory of updateinfo.xml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advisory {
    pub id: String,
    /// `security`, `bugfix`, `enhancement`, `newpackage`.
    pub kind: String,
    pub title: String,
    pub severity: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS`
    pub issued: String,
    pub updated: Option<String>,
    pub summary: String,
    pub description: String,
    /// `(type, id, href)`: `("cve", "CVE-2024-1", "https://...")`, `("bugzilla", ...)`.
    pub references: Vec<(String, String, String)>,
    pub packages: Vec<RepoPackage>,
    pub module: Option<ModuleStream>,
    pub reboot_suggested: bool,
}

/// One modulemd v2 stream (with a modulemd-defaults document when `default_profile`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleStream {
    pub name: String,
    pub stream: String,
    pub version: u64,
    pub context: String,
    pub arch: String,
    /// `name-epoch:version-release.arch`
    pub artifacts: Vec<String>,
    /// Package names (profile `default`, api, components).
    pub rpms: Vec<String>,
    /// Make this stream the default one with this profile.
    pub default_profile: Option<String>,
}

impl ModuleStream {
    /// `name:stream:version:context:arch`
    pub fn nsvca(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.name, self.stream, self.version, self.context, self.arch
        )
    }
}

/// What `create_repo` made.
#[derive(Clone, Debug)]
pub struct RepoInfo {
    pub dir: PathBuf,
    pub repomd: PathBuf,
    pub checksum: String,
    pub packages: Vec<RepoPackage>,
    pub advisories: Vec<Advisory>,
    pub modules: Vec<ModuleStream>,
    /// comps ids (empty without comps).
    pub groups: Vec<String>,
    pub categories: Vec<String>,
    pub environments: Vec<String>,
    /// The armored public key (also in `repodata/repomd.xml.key`) when signed.
    pub public_key: Option<String>,
    /// The key that signed `repodata/repomd.xml.asc`, with its GnuPG home.
    pub gpg: Option<Arc<GpgKey>>,
}

impl RepoInfo {
    /// The records of repomd.xml as it is now.
    pub fn records(&self) -> Vec<RepomdRecord> {
        parse_repomd(&std::fs::read_to_string(&self.repomd).expect("read repomd.xml"))
    }
    pub fn record(&self, kind: &str) -> Option<RepomdRecord> {
        self.records().into_iter().find(|r| r.kind == kind)
    }
    /// GnuPG home holding the signing key (with secret key) when signed.
    pub fn gnupg_home(&self) -> Option<&Path> {
        self.gpg.as_ref().map(|k| k.home())
    }
    /// `file:///<dir>/`
    pub fn file_url(&self) -> String {
        format!("file://{}/", self.dir.display())
    }
    pub fn package(&self, nevra: &str) -> Option<&RepoPackage> {
        self.packages.iter().find(|p| p.nevra() == nevra)
    }
}

/// One `<data>` record of repomd.xml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepomdRecord {
    pub kind: String,
    pub location_href: String,
    pub checksum_type: String,
    pub checksum: String,
    pub open_checksum: Option<String>,
    pub size: Option<u64>,
    pub open_size: Option<u64>,
    pub timestamp: Option<u64>,
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

/// The `<data>` records of a repomd.xml (a plain scan, enough for createrepo_c's output).
pub fn parse_repomd(xml: &str) -> Vec<RepomdRecord> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<data type=\"") {
        let block_start = &rest[i..];
        let end = block_start.find("</data>").expect("unterminated <data>");
        let block = &block_start[..end];
        let kind = between(block, "<data type=\"", "\"").unwrap().to_string();
        let checksum_tag = between(block, "<checksum ", "</checksum>").unwrap_or_default();
        let open_tag = between(block, "<open-checksum ", "</open-checksum>");
        out.push(RepomdRecord {
            kind,
            location_href: between(block, "<location href=\"", "\"")
                .unwrap_or_default()
                .to_string(),
            checksum_type: between(checksum_tag, "type=\"", "\"")
                .unwrap_or_default()
                .to_string(),
            checksum: checksum_tag
                .rsplit('>')
                .next()
                .unwrap_or_default()
                .to_string(),
            open_checksum: open_tag.map(|t| t.rsplit('>').next().unwrap().to_string()),
            size: between(block, "<size>", "</size>").and_then(|v| v.parse().ok()),
            open_size: between(block, "<open-size>", "</open-size>").and_then(|v| v.parse().ok()),
            timestamp: between(block, "<timestamp>", "</timestamp>").and_then(|v| v.parse().ok()),
        });
        rest = &block_start[end..];
    }
    out
}

/// The decompressed bytes of a file (by extension: `.gz`, `.xz`, `.zst`, `.bz2`, else as is).
pub fn read_decompressed(path: &Path) -> Vec<u8> {
    let name = path.to_string_lossy();
    let tool = |tool: &str, env: &str| {
        let out = Command::new(require(tool, env))
            .arg("-dc")
            .arg(path)
            .output()
            .expect("run decompressor");
        assert!(out.status.success(), "{tool} -dc {name} failed");
        out.stdout
    };
    if name.ends_with(".gz") {
        let mut data = Vec::new();
        GzDecoder::new(File::open(path).expect("open"))
            .read_to_end(&mut data)
            .expect("gunzip");
        data
    } else if name.ends_with(".xz") {
        tool("xz", "XZ")
    } else if name.ends_with(".zst") {
        tool("zstd", "ZSTD")
    } else if name.ends_with(".bz2") {
        tool("bzip2", "BZIP2")
    } else {
        std::fs::read(path).expect("read")
    }
}

/// The decompressed text of record `kind` (`primary`, `updateinfo`...) of the repository in
/// `repo_dir`.
pub fn read_repodata(repo_dir: &Path, kind: &str) -> String {
    let repomd = std::fs::read_to_string(repo_dir.join("repodata/repomd.xml")).expect("repomd");
    let rec = parse_repomd(&repomd)
        .into_iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} record in {}", repo_dir.display()));
    String::from_utf8(read_decompressed(&repo_dir.join(&rec.location_href))).expect("utf-8")
}

/// Hex digest of a file: `sha1`, `sha224`, `sha256`, `sha384`, `sha512`.
pub fn file_digest(path: &Path, algo: &str) -> String {
    fn stream<D: Digest>(path: &Path) -> String {
        let mut f = File::open(path).expect("open for digest");
        let mut d = D::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).expect("read for digest");
            if n == 0 {
                break;
            }
            d.update(&buf[..n]);
        }
        hex::encode(d.finalize())
    }
    match algo {
        "sha224" => stream::<Sha224>(path),
        "sha256" => stream::<Sha256>(path),
        "sha384" => stream::<Sha384>(path),
        "sha512" => stream::<Sha512>(path),
        "sha1" | "sha" => {
            let out = Command::new(require("sha1sum", "SHA1SUM"))
                .arg(path)
                .output()
                .expect("run sha1sum");
            assert!(out.status.success(), "sha1sum failed");
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        }
        other => panic!("unsupported checksum type {other}"),
    }
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Read NEVRA etc. of rpm files with `rpm -qp`.
fn query_rpms(paths: &[PathBuf]) -> Vec<(String, u32, String, String, String, String)> {
    if paths.is_empty() {
        return vec![];
    }
    let out = run(
        Command::new(require("rpm", "RPM"))
            .arg("-qp")
            .arg("--nosignature")
            .arg("--nodigest")
            .arg("--qf")
            .arg("%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n")
            .args(paths),
        "rpm -qp",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<_> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 6, "rpm -qp line: {l}");
            (
                f[0].to_string(),
                f[1].parse().expect("epoch"),
                f[2].to_string(),
                f[3].to_string(),
                f[4].to_string(),
                f[5].to_string(),
            )
        })
        .collect();
    assert_eq!(rows.len(), paths.len(), "rpm -qp output: {text}");
    rows
}

fn compress_ext(compress: &str) -> &'static str {
    match compress {
        "gz" | "gzip" => "gz",
        "xz" => "xz",
        "bz2" | "bzip2" => "bz2",
        "zstd" | "zst" => "zst",
        other => panic!("unsupported compression {other} (gz, xz, bz2, zstd)"),
    }
}

/// Make a yum repository in `dir` with (copies of) `rpms`: exactly those packages (any
/// existing `repodata/` is replaced), laid out per `opts.layout`, then updateinfo, modules,
/// comps and the signature as asked.
pub fn create_repo(dir: &Path, rpms: &[PathBuf], opts: &RepoOptions) -> RepoInfo {
    let createrepo = require("createrepo_c", "CREATEREPO_C");
    let ext = compress_ext(&opts.compress);
    // createrepo_c 0.17 has no zstd: make gzip, recompress below.
    let tool_compress = if ext == "zst" { "gz" } else { ext };
    std::fs::create_dir_all(dir).expect("create repo dir");
    let dir = dir.canonicalize().expect("canonical repo dir");
    let work = tempfile::Builder::new()
        .prefix("depot-createrepo-")
        .tempdir()
        .expect("createrepo tempdir");

    // Place the packages.
    let meta = query_rpms(rpms);
    let (scan_root, prefix) = match &opts.layout {
        PackageLayout::Outside(pool) => {
            let parent = dir.parent().expect("repo dir has a parent");
            (parent.join(pool), format!("../{pool}/"))
        }
        _ => (dir.clone(), String::new()),
    };
    let mut packages = Vec::new();
    for (src, (name, epoch, version, release, arch, sourcerpm)) in rpms.iter().zip(meta) {
        let filename = src.file_name().unwrap().to_string_lossy().into_owned();
        let rel = match &opts.layout {
            PackageLayout::Flat | PackageLayout::Outside(_) => filename.clone(),
            PackageLayout::Subdir(sub) => format!("{sub}/{filename}"),
            PackageLayout::ByFirstLetter(sub) => format!(
                "{sub}/{}/{filename}",
                name.chars().next().unwrap().to_ascii_lowercase()
            ),
        };
        let dest = scan_root.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap()).expect("package dir");
        if src.canonicalize().ok() != dest.canonicalize().ok() {
            std::fs::copy(src, &dest).expect("copy rpm into repo");
        }
        packages.push(RepoPackage {
            name,
            epoch,
            version,
            release,
            arch,
            sourcerpm,
            filename,
            location_href: format!("{prefix}{rel}"),
            size: std::fs::metadata(&dest).unwrap().len(),
            sha256: file_digest(&dest, "sha256"),
            pkgid: file_digest(&dest, &opts.checksum),
            path: dest,
        });
    }
    let pkglist = work.path().join("pkglist");
    let rels: String = packages
        .iter()
        .map(|p| format!("{}\n", &p.location_href[prefix.len()..]))
        .collect();
    std::fs::write(&pkglist, rels).expect("write pkglist");

    // comps
    let (groups, categories, environments) = if opts.comps {
        (
            vec![COMPS_GROUP.to_string()],
            vec![COMPS_CATEGORY.to_string()],
            vec![COMPS_ENVIRONMENT.to_string()],
        )
    } else {
        (vec![], vec![], vec![])
    };
    let comps_path = work.path().join("comps.xml");
    if opts.comps {
        std::fs::write(&comps_path, comps_xml(&packages)).expect("write comps");
    }

    let mut cmd = Command::new(&createrepo);
    cmd.arg("--quiet")
        .arg("--checksum")
        .arg(&opts.checksum)
        .arg("--general-compress-type")
        .arg(tool_compress)
        .arg("--pkglist")
        .arg(&pkglist)
        .arg(if opts.sqlite {
            "--database"
        } else {
            "--no-database"
        });
    if opts.comps {
        cmd.arg("--groupfile").arg(&comps_path);
    }
    if let Some(base) = &opts.xml_base {
        cmd.arg("--baseurl").arg(base);
    }
    if !prefix.is_empty() {
        cmd.arg("--location-prefix")
            .arg(&prefix)
            .arg("--outputdir")
            .arg(&dir);
    }
    cmd.arg(&scan_root);
    run(&mut cmd, "createrepo_c");

    // updateinfo, modules
    let modules = if opts.modules {
        opts.module_streams
            .clone()
            .unwrap_or_else(|| default_modules(&packages))
    } else {
        vec![]
    };
    if opts.modules {
        let path = work.path().join("modules.yaml");
        std::fs::write(&path, modules_yaml(&modules)).expect("write modules.yaml");
        add_repodata(&dir, &path, "modules", tool_compress, &opts.checksum);
    }
    let advisories = if opts.updateinfo {
        opts.advisories
            .clone()
            .unwrap_or_else(|| default_advisories(&packages, &modules))
    } else {
        vec![]
    };
    if opts.updateinfo {
        let path = work.path().join("updateinfo.xml");
        std::fs::write(&path, updateinfo_xml(&advisories)).expect("write updateinfo.xml");
        add_repodata(&dir, &path, "updateinfo", tool_compress, &opts.checksum);
    }
    if ext == "zst" {
        for kind in ["primary", "filelists", "other", "updateinfo", "modules"] {
            recompress_record(&dir, kind, &opts.checksum);
        }
    }

    // signature
    let repomd = dir.join("repodata/repomd.xml");
    let gpg = if opts.sign_with_gpg || opts.signing_key.is_some() {
        let key = opts.signing_key.clone().unwrap_or_else(|| {
            Arc::new(GpgKey::generate("Depot Fixture Repo <repo@depot.invalid>"))
        });
        let sig = key.sign_detached(&repomd);
        std::fs::write(dir.join("repodata/repomd.xml.asc"), sig).expect("write repomd.xml.asc");
        std::fs::write(dir.join("repodata/repomd.xml.key"), &key.public_key)
            .expect("write repomd.xml.key");
        Some(key)
    } else {
        let _ = std::fs::remove_file(dir.join("repodata/repomd.xml.asc"));
        let _ = std::fs::remove_file(dir.join("repodata/repomd.xml.key"));
        None
    };

    RepoInfo {
        dir,
        repomd,
        checksum: opts.checksum.clone(),
        packages,
        advisories,
        modules,
        groups,
        categories,
        environments,
        public_key: gpg.as_ref().map(|k| k.public_key.clone()),
        gpg,
    }
}

/// Add (or replace) record `kind` from `file` with `modifyrepo_c` (compressed with
/// `compress`: `gz`, `xz`, `bz2`, or `none`).
pub fn add_repodata(repo_dir: &Path, file: &Path, kind: &str, compress: &str, checksum: &str) {
    let mut cmd = Command::new(require("modifyrepo_c", "MODIFYREPO_C"));
    cmd.arg("--mdtype")
        .arg(kind)
        .arg("--checksum")
        .arg(checksum);
    if compress == "none" {
        cmd.arg("--no-compress");
    } else {
        cmd.arg("--compress-type").arg(compress);
    }
    cmd.arg(file).arg(repo_dir.join("repodata"));
    run(&mut cmd, "modifyrepo_c");
}

/// Replace a gzip record of repomd.xml by its zstd recompression (same open-checksum and
/// open-size; new checksum, size and location).
fn recompress_record(repo_dir: &Path, kind: &str, checksum: &str) {
    let repomd_path = repo_dir.join("repodata/repomd.xml");
    let xml = std::fs::read_to_string(&repomd_path).expect("read repomd");
    let Some(rec) = parse_repomd(&xml).into_iter().find(|r| r.kind == kind) else {
        return;
    };
    let old = repo_dir.join(&rec.location_href);
    let data = read_decompressed(&old);
    let tmp = repo_dir.join(format!("repodata/.{kind}.zst.tmp"));
    let mut child = Command::new(require("zstd", "ZSTD"))
        .args(["-q", "-10", "-c", "-"])
        .stdin(Stdio::piped())
        .stdout(File::create(&tmp).expect("create zst"))
        .spawn()
        .expect("run zstd");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&data)
        .expect("feed zstd");
    assert!(child.wait().expect("zstd").success(), "zstd failed");
    let sum = file_digest(&tmp, checksum);
    let size = std::fs::metadata(&tmp).unwrap().len();
    let base = Path::new(&rec.location_href)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let stem = base
        .strip_prefix(&format!("{}-", rec.checksum))
        .unwrap_or(&base);
    let stem = stem.strip_suffix(".gz").unwrap_or(stem);
    let href = format!("repodata/{sum}-{stem}.zst");
    std::fs::rename(&tmp, repo_dir.join(&href)).expect("rename zst");
    std::fs::remove_file(&old).expect("remove gz record");

    let start = xml.find(&format!("<data type=\"{kind}\">")).unwrap();
    let end = start + xml[start..].find("</data>").unwrap();
    let mut block = xml[start..end].to_string();
    block = block.replacen(
        &format!(">{}</checksum>", rec.checksum),
        &format!(">{sum}</checksum>"),
        1,
    );
    block = block.replacen(&rec.location_href, &href, 1);
    if let Some(s) = rec.size {
        block = block.replacen(
            &format!("<size>{s}</size>"),
            &format!("<size>{size}</size>"),
            1,
        );
    }
    let new = format!("{}{}{}", &xml[..start], block, &xml[end..]);
    std::fs::write(&repomd_path, new).expect("write repomd");
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Two or three realistic advisories over `packages`:
/// - `DEPOT-2024:1001` (security, Important, a CVE and a bugzilla): the newest package of the
///   first name that has several versions (else the first package);
/// - `DEPOT-2024:1002` (bugfix): the first package of another name;
/// - `DEPOT-2024:1003` (enhancement) when there are module streams: the first stream's
///   artifacts, with its `<module>` in the collection.
pub fn default_advisories(packages: &[RepoPackage], modules: &[ModuleStream]) -> Vec<Advisory> {
    let mut out = Vec::new();
    let Some(first) = packages.first() else {
        return out;
    };
    let dup = packages
        .iter()
        .find(|p| packages.iter().filter(|q| q.name == p.name).count() > 1)
        .map(|p| p.name.clone());
    let target = match &dup {
        Some(name) => packages
            .iter()
            .filter(|p| &p.name == name)
            .max_by(|a, b| {
                rpmvercmp(&a.version, &b.version).then(rpmvercmp(&a.release, &b.release))
            })
            .unwrap(),
        None => first,
    };
    out.push(Advisory {
        id: "DEPOT-2024:1001".into(),
        kind: "security".into(),
        title: format!("Important: {} security update", target.name),
        severity: Some("Important".into()),
        issued: "2024-04-02 10:00:00".into(),
        updated: Some("2024-04-03 08:30:00".into()),
        summary: format!("An update for {} is now available.", target.name),
        description: format!(
            "{} {} fixes a buffer overflow in the parser (CVE-2024-10001).",
            target.name, target.version
        ),
        references: vec![
            (
                "cve".into(),
                "CVE-2024-10001".into(),
                "https://www.cve.org/CVERecord?id=CVE-2024-10001".into(),
            ),
            (
                "bugzilla".into(),
                "2010001".into(),
                "https://bugzilla.depot.invalid/show_bug.cgi?id=2010001".into(),
            ),
        ],
        packages: vec![target.clone()],
        module: None,
        reboot_suggested: false,
    });
    if let Some(other) = packages.iter().find(|p| p.name != target.name) {
        out.push(Advisory {
            id: "DEPOT-2024:1002".into(),
            kind: "bugfix".into(),
            title: format!("{} bug fix update", other.name),
            severity: None,
            issued: "2024-02-20 12:00:00".into(),
            updated: None,
            summary: format!("Updated {} packages fix a bug.", other.name),
            description: "The configuration file was not read when it ended without a newline."
                .into(),
            references: vec![(
                "bugzilla".into(),
                "2010002".into(),
                "https://bugzilla.depot.invalid/show_bug.cgi?id=2010002".into(),
            )],
            packages: vec![other.clone()],
            module: None,
            reboot_suggested: true,
        });
    }
    if let Some(m) = modules.first() {
        let pkgs: Vec<RepoPackage> = packages
            .iter()
            .filter(|p| m.artifacts.contains(&p.nevra()))
            .cloned()
            .collect();
        out.push(Advisory {
            id: "DEPOT-2024:1003".into(),
            kind: "enhancement".into(),
            title: format!("{}:{} module enhancement update", m.name, m.stream),
            severity: None,
            issued: "2024-03-01 09:00:00".into(),
            updated: None,
            summary: format!("The {} module gains new features.", m.name),
            description: "This update adds new extras to the module.".into(),
            references: vec![],
            packages: pkgs,
            module: Some(m.clone()),
            reboot_suggested: false,
        });
    }
    out
}

/// updateinfo.xml for `advisories` (the shape Fedora/RHEL publish).
pub fn updateinfo_xml(advisories: &[Advisory]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n");
    for a in advisories {
        let _ = writeln!(
            s,
            "  <update from=\"security@depot.invalid\" status=\"final\" type=\"{}\" version=\"2\">",
            xml_escape(&a.kind)
        );
        let _ = writeln!(s, "    <id>{}</id>", xml_escape(&a.id));
        let _ = writeln!(s, "    <title>{}</title>", xml_escape(&a.title));
        let _ = writeln!(s, "    <issued date=\"{}\"/>", a.issued);
        if let Some(u) = &a.updated {
            let _ = writeln!(s, "    <updated date=\"{u}\"/>");
        }
        let _ = writeln!(s, "    <rights>Copyright 2024 Depot Fixtures</rights>");
        let _ = writeln!(s, "    <release>Depot Fixtures 9</release>");
        let _ = writeln!(
            s,
            "    <severity>{}</severity>",
            xml_escape(a.severity.as_deref().unwrap_or("None"))
        );
        let _ = writeln!(s, "    <summary>{}</summary>", xml_escape(&a.summary));
        let _ = writeln!(
            s,
            "    <description>{}</description>",
            xml_escape(&a.description)
        );
        let _ = writeln!(
            s,
            "    <solution>Apply the update with dnf upgrade --advisory={}.</solution>",
            xml_escape(&a.id)
        );
        if a.references.is_empty() {
            let _ = writeln!(s, "    <references/>");
        } else {
            let _ = writeln!(s, "    <references>");
            for (kind, id, href) in &a.references {
                let _ = writeln!(
                    s,
                    "      <reference href=\"{}\" id=\"{}\" type=\"{}\" title=\"{}\"/>",
                    xml_escape(href),
                    xml_escape(id),
                    xml_escape(kind),
                    xml_escape(id)
                );
            }
            let _ = writeln!(s, "    </references>");
        }
        let _ = writeln!(s, "    <pkglist>");
        let _ = writeln!(s, "      <collection short=\"depot-fixtures-9\">");
        let _ = writeln!(s, "        <name>Depot Fixtures 9</name>");
        if let Some(m) = &a.module {
            let _ = writeln!(
                s,
                "        <module name=\"{}\" stream=\"{}\" version=\"{}\" context=\"{}\" arch=\"{}\"/>",
                xml_escape(&m.name),
                xml_escape(&m.stream),
                m.version,
                xml_escape(&m.context),
                xml_escape(&m.arch)
            );
        }
        for p in &a.packages {
            let _ = writeln!(
                s,
                "        <package name=\"{}\" version=\"{}\" release=\"{}\" epoch=\"{}\" arch=\"{}\" src=\"{}\">",
                xml_escape(&p.name),
                xml_escape(&p.version),
                xml_escape(&p.release),
                p.epoch,
                xml_escape(&p.arch),
                xml_escape(&p.sourcerpm)
            );
            let _ = writeln!(
                s,
                "          <filename>{}</filename>",
                xml_escape(&p.filename)
            );
            let _ = writeln!(s, "          <sum type=\"sha256\">{}</sum>", p.sha256);
            if a.reboot_suggested {
                let _ = writeln!(s, "          <reboot_suggested>True</reboot_suggested>");
            }
            let _ = writeln!(s, "        </package>");
        }
        let _ = writeln!(s, "      </collection>");
        let _ = writeln!(s, "    </pkglist>");
        let _ = writeln!(s, "  </update>");
    }
    s.push_str("</updates>\n");
    s
}

/// One default stream `depot-demo:1` whose artifacts are all packages named like the last
/// package (`depot-extra` for [`standard_packages`]), with a modulemd-defaults document.
pub fn default_modules(packages: &[RepoPackage]) -> Vec<ModuleStream> {
    let Some(last) = packages.last() else {
        return vec![];
    };
    vec![ModuleStream {
        name: "depot-demo".into(),
        stream: "1".into(),
        version: 20_240_301_090_000,
        context: "6c81f848".into(),
        arch: if native_arch() == "noarch" {
            "x86_64".into()
        } else {
            native_arch().into()
        },
        artifacts: packages
            .iter()
            .filter(|p| p.name == last.name)
            .map(|p| p.nevra())
            .collect(),
        rpms: vec![last.name.clone()],
        default_profile: Some("default".into()),
    }]
}

/// modules.yaml: a modulemd v2 document per stream, then modulemd-defaults documents.
pub fn modules_yaml(streams: &[ModuleStream]) -> String {
    let mut s = String::new();
    for m in streams {
        let _ = writeln!(s, "---\ndocument: modulemd\nversion: 2\ndata:");
        let _ = writeln!(s, "  name: {}", m.name);
        let _ = writeln!(s, "  stream: \"{}\"", m.stream);
        let _ = writeln!(s, "  version: {}", m.version);
        let _ = writeln!(s, "  context: {}", m.context);
        let _ = writeln!(s, "  arch: {}", m.arch);
        let _ = writeln!(s, "  summary: The {} module of the depot fixtures", m.name);
        let _ = writeln!(
            s,
            "  description: >-\n    A module stream built by depot-testkit for end-to-end tests."
        );
        let _ = writeln!(
            s,
            "  license:\n    module:\n    - MIT\n    content:\n    - MIT"
        );
        let _ = writeln!(s, "  profiles:\n    default:\n      rpms:");
        for r in &m.rpms {
            let _ = writeln!(s, "      - {r}");
        }
        let _ = writeln!(s, "  api:\n    rpms:");
        for r in &m.rpms {
            let _ = writeln!(s, "    - {r}");
        }
        let _ = writeln!(s, "  components:\n    rpms:");
        for r in &m.rpms {
            let _ = writeln!(
                s,
                "      {r}:\n        rationale: Provides the module's content.\n        ref: main"
            );
        }
        let _ = writeln!(s, "  artifacts:\n    rpms:");
        for a in &m.artifacts {
            let _ = writeln!(s, "    - {a}");
        }
        let _ = writeln!(s, "...");
    }
    for m in streams {
        if let Some(profile) = &m.default_profile {
            let _ = writeln!(s, "---\ndocument: modulemd-defaults\nversion: 1\ndata:");
            let _ = writeln!(s, "  module: {}", m.name);
            let _ = writeln!(s, "  stream: \"{}\"", m.stream);
            let _ = writeln!(s, "  profiles:\n    \"{}\": [{profile}]", m.stream);
            let _ = writeln!(s, "...");
        }
    }
    s
}

pub const COMPS_GROUP: &str = "depot-core";
pub const COMPS_CATEGORY: &str = "depot-category";
pub const COMPS_ENVIRONMENT: &str = "depot-environment";

/// comps.xml: group `depot-core` (first name mandatory, last optional, the others default),
/// category `depot-category`, environment `depot-environment`, and a langpacks entry.
pub fn comps_xml(packages: &[RepoPackage]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for p in packages {
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
    }
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE comps PUBLIC \"-//Red Hat, Inc.//DTD Comps info//EN\" \"comps.dtd\">\n<comps>\n",
    );
    let _ = writeln!(
        s,
        "  <group>\n    <id>{COMPS_GROUP}</id>\n    <name>Depot Core</name>\n    \
         <name xml:lang=\"de\">Depot Kern</name>\n    \
         <description>Packages of the depot fixtures.</description>\n    \
         <default>true</default>\n    <uservisible>true</uservisible>\n    \
         <display_order>1024</display_order>\n    <packagelist>"
    );
    for (i, n) in names.iter().enumerate() {
        let kind = if i == 0 {
            "mandatory"
        } else if i + 1 == names.len() {
            "optional"
        } else {
            "default"
        };
        let _ = writeln!(
            s,
            "      <packagereq type=\"{kind}\">{}</packagereq>",
            xml_escape(n)
        );
    }
    let _ = writeln!(s, "    </packagelist>\n  </group>");
    let _ = writeln!(
        s,
        "  <category>\n    <id>{COMPS_CATEGORY}</id>\n    <name>Depot</name>\n    \
         <description>Everything of the depot fixtures.</description>\n    \
         <display_order>10</display_order>\n    <grouplist>\n      \
         <groupid>{COMPS_GROUP}</groupid>\n    </grouplist>\n  </category>"
    );
    let _ = writeln!(
        s,
        "  <environment>\n    <id>{COMPS_ENVIRONMENT}</id>\n    <name>Depot Environment</name>\n    \
         <description>A system built from the depot fixtures.</description>\n    \
         <display_order>5</display_order>\n    <grouplist>\n      \
         <groupid>{COMPS_GROUP}</groupid>\n    </grouplist>\n    <optionlist/>\n  </environment>"
    );
    if let Some(n) = names.first() {
        let _ = writeln!(
            s,
            "  <langpacks>\n    <match install=\"{0}-langpack-%s\" name=\"{0}\"/>\n  </langpacks>",
            xml_escape(n)
        );
    }
    s.push_str("</comps>\n");
    s
}

/// rpm's version comparison (rpmvercmp), enough to order fixture versions.
pub fn rpmvercmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let skip = |s: &mut &[u8]| {
        while let Some(&c) = s.first() {
            if c.is_ascii_alphanumeric() || c == b'~' {
                break;
            }
            *s = &s[1..];
        }
    };
    loop {
        skip(&mut a);
        skip(&mut b);
        match (a.first() == Some(&b'~'), b.first() == Some(&b'~')) {
            (true, true) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        if a.is_empty() || b.is_empty() {
            return a.len().cmp(&b.len());
        }
        let numeric = a[0].is_ascii_digit();
        let segment = |s: &[u8]| {
            s.iter()
                .position(|c| {
                    if numeric {
                        !c.is_ascii_digit()
                    } else {
                        !c.is_ascii_alphabetic()
                    }
                })
                .unwrap_or(s.len())
        };
        let (la, lb) = (segment(a), segment(b));
        if lb == 0 {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (ca, cb) = (&a[..la], &b[..lb]);
        let ord = if numeric {
            let ta = &ca[ca.iter().position(|c| *c != b'0').unwrap_or(ca.len())..];
            let tb = &cb[cb.iter().position(|c| *c != b'0').unwrap_or(cb.len())..];
            ta.len().cmp(&tb.len()).then(ta.cmp(tb))
        } else {
            ca.cmp(cb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[la..];
        b = &b[lb..];
    }
}

// ---------------------------------------------------------------------------------------------
// GnuPG
// ---------------------------------------------------------------------------------------------

/// A throwaway OpenPGP key (RSA 2048, sign only, no passphrase) in its own GnuPG home, which
/// is removed (and its agent stopped) on drop.
#[derive(Debug)]
pub struct GpgKey {
    home: tempfile::TempDir,
    gpgconf: PathBuf,
    pub fingerprint: String,
    /// ASCII-armored public key.
    pub public_key: String,
}

impl Drop for GpgKey {
    fn drop(&mut self) {
        kill_agent(&self.gpgconf, self.home.path());
    }
}

fn gpg_cmd(home: &Path) -> Command {
    let mut c = Command::new(require("gpg", "GPG"));
    c.arg("--homedir")
        .arg(home)
        .arg("--batch")
        .arg("--no-tty")
        .arg("--pinentry-mode")
        .arg("loopback")
        .arg("--passphrase")
        .arg("");
    c
}

impl GpgKey {
    /// A new key for `uid` (e.g. `"Name <mail@example.com>"`), RSA 2048 (0.1-0.2 s).
    pub fn generate(uid: &str) -> GpgKey {
        Self::generate_with(uid, "rsa2048")
    }

    /// A new key with algorithm `algo` (`rsa2048`, `rsa3072`, `ed25519`...).
    pub fn generate_with(uid: &str, algo: &str) -> GpgKey {
        // Short path: the agent's socket must fit in sockaddr_un.
        let home = tempfile::Builder::new()
            .prefix("depot-gpg-")
            .tempdir_in("/tmp")
            .expect("gnupg home");
        run(
            gpg_cmd(home.path())
                .arg("--quiet")
                .arg("--quick-gen-key")
                .arg(uid)
                .arg(algo)
                .arg("sign")
                .arg("never"),
            "gpg --quick-gen-key",
        );
        let out = run(
            gpg_cmd(home.path()).args(["--with-colons", "--list-secret-keys"]),
            "gpg --list-secret-keys",
        );
        let listing = String::from_utf8_lossy(&out.stdout);
        let fingerprint = listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint of the new key")
            .to_string();
        let out = run(
            gpg_cmd(home.path()).args(["--armor", "--export", &fingerprint]),
            "gpg --export",
        );
        let public_key = String::from_utf8(out.stdout).expect("armored key");
        assert!(public_key.contains("BEGIN PGP PUBLIC KEY BLOCK"));
        GpgKey {
            home,
            gpgconf: require("gpgconf", "GPGCONF"),
            fingerprint,
            public_key,
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// An armored detached signature of `file`.
    pub fn sign_detached(&self, file: &Path) -> String {
        let out = run(
            gpg_cmd(self.home())
                .arg("--local-user")
                .arg(&self.fingerprint)
                .arg("--armor")
                .arg("--detach-sign")
                .arg("--output")
                .arg("-")
                .arg(file),
            "gpg --detach-sign",
        );
        String::from_utf8(out.stdout).expect("armored signature")
    }

    /// Whether `signature` (a file) is a good signature of `data` (a file) by this key's home.
    pub fn verify(&self, signature: &Path, data: &Path) -> bool {
        gpg_cmd(self.home())
            .arg("--verify")
            .arg(signature)
            .arg(data)
            .stdin(Stdio::null())
            .output()
            .expect("run gpg --verify")
            .status
            .success()
    }
}

/// Verify `signature` over `data` with only the armored `public_key` (a fresh GnuPG home, as
/// a client that downloaded `repomd.xml.key` would); returns (good, gpg's stderr).
pub fn gpg_verify_with_key(public_key: &str, signature: &Path, data: &Path) -> (bool, String) {
    let home = tempfile::Builder::new()
        .prefix("depot-gpgv-")
        .tempdir_in("/tmp")
        .expect("gnupg home");
    let key = home.path().join("key.asc");
    std::fs::write(&key, public_key).expect("write key");
    run(
        gpg_cmd(home.path()).arg("--import").arg(&key),
        "gpg --import",
    );
    let out = gpg_cmd(home.path())
        .arg("--verify")
        .arg(signature)
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .expect("run gpg --verify");
    kill_agent(&require("gpgconf", "GPGCONF"), home.path());
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------------
// Mirror lists and metalinks
// ---------------------------------------------------------------------------------------------

fn repomd_url(base: &str) -> String {
    format!("{}/repodata/repomd.xml", base.trim_end_matches('/'))
}

/// A yum mirror list: a comment line, then one base URL per line.
pub fn write_mirrorlist<S: AsRef<str>>(path: &Path, base_urls: &[S]) {
    let mut s = String::from("# mirrorlist written by depot-testkit\n");
    for u in base_urls {
        s.push_str(u.as_ref());
        s.push('\n');
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mirrorlist dir");
    }
    std::fs::write(path, s).expect("write mirrorlist");
}

/// A metalink 3.0 document for `repomd` as Fedora's MirrorManager emits it: size, mtime,
/// sha256/sha512 hashes, and one `<url>` per base URL (`<base>/repodata/repomd.xml`),
/// preference 100 downwards.
pub fn metalink_xml<S: AsRef<str>>(repomd: &Path, base_urls: &[S]) -> String {
    let meta = std::fs::metadata(repomd).expect("repomd.xml for metalink");
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut s = String::new();
    let _ = writeln!(s, "<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    let _ = writeln!(
        s,
        "<metalink version=\"3.0\" xmlns=\"http://www.metalinker.org/\" type=\"dynamic\" \
         pubdate=\"{}\" generator=\"mirrormanager\" \
         xmlns:mm0=\"http://fedorahosted.org/mirrormanager\">",
        http_date(mtime as i64)
    );
    let _ = writeln!(s, " <files>");
    let _ = writeln!(s, "  <file name=\"repomd.xml\">");
    let _ = writeln!(s, "   <mm0:timestamp>{mtime}</mm0:timestamp>");
    let _ = writeln!(s, "   <size>{}</size>", meta.len());
    let _ = writeln!(s, "   <verification>");
    for algo in ["sha256", "sha512"] {
        let _ = writeln!(
            s,
            "    <hash type=\"{algo}\">{}</hash>",
            file_digest(repomd, algo)
        );
    }
    let _ = writeln!(s, "   </verification>");
    let _ = writeln!(s, "   <resources maxconnections=\"1\">");
    for (i, base) in base_urls.iter().enumerate() {
        let url = repomd_url(base.as_ref());
        let protocol = url.split(':').next().unwrap_or("http");
        let _ = writeln!(
            s,
            "    <url protocol=\"{protocol}\" type=\"{protocol}\" location=\"US\" \
             preference=\"{}\">{}</url>",
            100usize.saturating_sub(i).max(1),
            xml_escape(&url)
        );
    }
    let _ = writeln!(s, "   </resources>");
    let _ = writeln!(s, "  </file>");
    let _ = writeln!(s, " </files>");
    let _ = writeln!(s, "</metalink>");
    s
}

/// Write [`metalink_xml`] to `path`.
pub fn write_metalink<S: AsRef<str>>(path: &Path, repomd: &Path, base_urls: &[S]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("metalink dir");
    }
    std::fs::write(path, metalink_xml(repomd, base_urls)).expect("write metalink");
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mon Jan 01 2024`, as `%changelog` wants.
fn changelog_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let wd = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    format!("{wd} {} {d:02} {y}", MONTHS[m as usize - 1])
}

/// `Mon, 01 Jan 2024 00:00:00 GMT`
fn http_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let wd = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    format!(
        "{wd}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        MONTHS[m as usize - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

// ---------------------------------------------------------------------------------------------
// Synthetic repodata (benchmarks)
// ---------------------------------------------------------------------------------------------

/// A dependency entry (`<rpm:entry>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    /// `(flags, epoch, ver, rel)`, flags `EQ`/`GE`/`LT`...
    pub version: Option<(&'static str, u32, String, Option<String>)>,
    pub pre: bool,
}

/// One synthetic package: what its primary/filelists/other entries say. The `.rpm` does not
/// exist.
#[derive(Clone, Debug)]
pub struct SyntheticPackage {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// sha256 (fake: of the package's index and seed).
    pub pkgid: String,
    pub location_href: String,
    pub size_package: u64,
    pub size_installed: u64,
    pub time: u64,
    pub requires: Vec<Dep>,
    pub provides: Vec<Dep>,
    /// `(path, is_dir)`, sorted by path.
    pub files: Vec<(String, bool)>,
    /// `(author, date, text)`
    pub changelog: Vec<(String, u64, String)>,
}

impl SyntheticPackage {
    pub fn nevra(&self) -> String {
        format!(
            "{}-{}:{}-{}.{}",
            self.name, self.epoch, self.version, self.release, self.arch
        )
    }
}

const WORDS: [&str; 32] = [
    "amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "iris", "jasper",
    "kelp", "lumen", "maple", "nectar", "onyx", "pollen", "quartz", "raven", "sable", "tundra",
    "umber", "violet", "willow", "xenon", "yarrow", "zephyr", "aspen", "birch", "comet", "dune",
    "eagle", "flint",
];
const SUFFIXES: [&str; 8] = [
    "utils", "tools", "libs", "server", "client", "data", "common", "core",
];

fn synth_rng(index: usize, seed: u64) -> Rng {
    Rng::new(
        seed ^ (index as u64)
            .wrapping_mul(0xA24B_AED4_963E_E407)
            .wrapping_add(1),
    )
}

fn synthetic_name(index: usize, seed: u64) -> String {
    let mut rng = synth_rng(index, seed);
    let w = WORDS[(rng.next_u64() % WORDS.len() as u64) as usize];
    let s = SUFFIXES[(rng.next_u64() % SUFFIXES.len() as u64) as usize];
    format!("{w}-{s}-{index}")
}

fn synthetic_is_noarch(index: usize) -> bool {
    index % 5 == 4
}

/// Synthetic package number `index` of the repository made with `seed` (exactly
/// `files_per_package` files and directories, spread over `/usr/bin`, `/usr/lib64`, `/etc`,
/// `/usr/share/<name>`, `/usr/share/doc/<name>`, `/usr/share/man`).
pub fn synthetic_package(index: usize, files_per_package: usize, seed: u64) -> SyntheticPackage {
    let name = synthetic_name(index, seed);
    let mut rng = synth_rng(index, seed);
    rng.next_u64();
    rng.next_u64();
    let noarch = synthetic_is_noarch(index);
    let arch = if noarch { "noarch" } else { "x86_64" }.to_string();
    let epoch = if index % 7 == 3 {
        rng.range(1, 3) as u32
    } else {
        0
    };
    let version = format!(
        "{}.{}.{}",
        rng.range(0, 12),
        rng.range(0, 30),
        rng.range(0, 9)
    );
    let release = format!("{}.el9", rng.range(1, 5));
    let evr = |flags: &'static str| Some((flags, epoch, version.clone(), Some(release.clone())));
    let mut provides = vec![Dep {
        name: name.clone(),
        version: evr("EQ"),
        pre: false,
    }];
    let mut requires = Vec::new();
    let soname = format!("lib{}.so.1", name.replace('-', "_"));
    if !noarch {
        provides.push(Dep {
            name: format!("{name}(x86-64)"),
            version: evr("EQ"),
            pre: false,
        });
        provides.push(Dep {
            name: format!("{soname}()(64bit)"),
            version: None,
            pre: false,
        });
        requires.push(Dep {
            name: "libc.so.6()(64bit)".into(),
            version: None,
            pre: false,
        });
        requires.push(Dep {
            name: "libc.so.6(GLIBC_2.34)(64bit)".into(),
            version: None,
            pre: false,
        });
        requires.push(Dep {
            name: "rtld(GNU_HASH)".into(),
            version: None,
            pre: false,
        });
    }
    if index.is_multiple_of(3) {
        requires.push(Dep {
            name: "/bin/sh".into(),
            version: None,
            pre: true,
        });
    }
    if index > 0 {
        let mut j = (rng.next_u64() % index as u64) as usize;
        if synthetic_is_noarch(j) {
            j = j.saturating_sub(1);
        }
        if !synthetic_is_noarch(j) {
            requires.push(Dep {
                name: format!(
                    "lib{}.so.1()(64bit)",
                    synthetic_name(j, seed).replace('-', "_")
                ),
                version: None,
                pre: false,
            });
        }
        let k = (rng.next_u64() % index as u64) as usize;
        requires.push(Dep {
            name: synthetic_name(k, seed),
            version: Some(("GE", 0, "0.1".into(), None)),
            pre: false,
        });
    }
    requires.sort_by(|a, b| a.name.cmp(&b.name));
    requires.dedup_by(|a, b| a.name == b.name);

    let mut files: Vec<(String, bool)> = Vec::new();
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    let push = |path: String, files: &mut Vec<(String, bool)>| files.push((path, false));
    if !noarch {
        push(format!("/usr/bin/{name}"), &mut files);
        push(format!("/usr/lib64/{soname}"), &mut files);
    }
    push(format!("/etc/{name}/{name}.conf"), &mut files);
    dirs.insert(format!("/etc/{name}"));
    let mut k = 0;
    while files.len() + dirs.len() < files_per_package.max(1) {
        let path = match k % 6 {
            0 => {
                dirs.insert(format!("/usr/share/doc/{name}"));
                format!("/usr/share/doc/{name}/NOTES-{k}.txt")
            }
            1 => {
                dirs.insert(format!("/usr/share/{name}"));
                dirs.insert(format!("/usr/share/{name}/data"));
                format!("/usr/share/{name}/data/table-{k}.dat")
            }
            2 if !noarch => {
                dirs.insert(format!("/usr/lib64/{name}"));
                format!("/usr/lib64/{name}/plugin-{k}.so")
            }
            3 => format!("/usr/share/man/man1/{name}-{k}.1.gz"),
            4 if !noarch && k % 12 == 4 => format!("/usr/bin/{name}-helper-{k}"),
            _ => {
                dirs.insert(format!("/usr/share/{name}"));
                format!("/usr/share/{name}/resource-{k}.xml")
            }
        };
        push(path, &mut files);
        k += 1;
    }
    files.extend(dirs.into_iter().map(|d| (d, true)));
    files.sort();
    files.truncate(files_per_package.max(1));

    let time = 1_700_000_000 + index as u64;
    let who = "Synthetic Packager <synth@depot.invalid>";
    let mut changelog = Vec::new();
    for c in 0..rng.range(1, 3) {
        changelog.push((
            format!("{who} - {version}-{release}"),
            time - 86_400 * 30 * c,
            format!("- Update to {version} (change {c})\n- Rebuilt for the depot benchmark"),
        ));
    }
    changelog.reverse(); // other.xml lists oldest first
    let pkgid = hex::encode(Sha256::digest(format!("synthetic-{seed}-{index}")));
    let location_href = format!(
        "Packages/{}/{name}-{version}-{release}.{arch}.rpm",
        &name[..1]
    );
    SyntheticPackage {
        size_package: rng.range(8_000, 4_000_000),
        size_installed: rng.range(20_000, 12_000_000),
        name,
        epoch,
        version,
        release,
        arch,
        pkgid,
        location_href,
        time,
        requires,
        provides,
        files,
        changelog,
    }
}

/// What `synthetic_repodata` wrote.
#[derive(Clone, Debug)]
pub struct SyntheticRepo {
    pub dir: PathBuf,
    pub repomd: PathBuf,
    pub packages: usize,
    pub files_per_package: usize,
    pub seed: u64,
    pub records: Vec<RepomdRecord>,
}

impl SyntheticRepo {
    pub fn package(&self, index: usize) -> SyntheticPackage {
        synthetic_package(index, self.files_per_package, self.seed)
    }
}

/// Counts and hashes what passes through.
struct HashWriter<W> {
    inner: W,
    sha: Sha256,
    len: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

type GzStream = BufWriter<HashWriter<GzEncoder<HashWriter<BufWriter<File>>>>>;

struct Written {
    sha: String,
    size: u64,
    open_sha: String,
    open_size: u64,
}

fn gz_stream(path: &Path) -> GzStream {
    let file = BufWriter::with_capacity(1 << 20, File::create(path).expect("create repodata"));
    let compressed = HashWriter {
        inner: file,
        sha: Sha256::new(),
        len: 0,
    };
    let open = HashWriter {
        inner: GzEncoder::new(compressed, Compression::new(6)),
        sha: Sha256::new(),
        len: 0,
    };
    BufWriter::with_capacity(1 << 18, open)
}

fn gz_finish(stream: GzStream) -> Written {
    let open = stream
        .into_inner()
        .map_err(|e| e.into_error())
        .expect("flush");
    let compressed = open.inner.finish().expect("finish gzip");
    let mut file = compressed.inner;
    file.flush().expect("flush repodata");
    Written {
        sha: hex::encode(compressed.sha.finalize()),
        size: compressed.len,
        open_sha: hex::encode(open.sha.finalize()),
        open_size: open.len,
    }
}

fn dep_xml(d: &Dep) -> String {
    let mut s = format!("<rpm:entry name=\"{}\"", xml_escape(&d.name));
    if let Some((flags, epoch, ver, rel)) = &d.version {
        let _ = write!(
            s,
            " flags=\"{flags}\" epoch=\"{epoch}\" ver=\"{}\"",
            xml_escape(ver)
        );
        if let Some(rel) = rel {
            let _ = write!(s, " rel=\"{}\"", xml_escape(rel));
        }
    }
    if d.pre {
        s.push_str(" pre=\"1\"");
    }
    s.push_str("/>");
    s
}

fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

fn write_primary(w: &mut impl Write, p: &SyntheticPackage) -> io::Result<()> {
    let name = xml_escape(&p.name);
    writeln!(w, "<package type=\"rpm\">")?;
    writeln!(w, "  <name>{name}</name>")?;
    writeln!(w, "  <arch>{}</arch>", p.arch)?;
    writeln!(
        w,
        "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        p.epoch, p.version, p.release
    )?;
    writeln!(
        w,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
        p.pkgid
    )?;
    writeln!(w, "  <summary>Synthetic package {name}</summary>")?;
    writeln!(
        w,
        "  <description>{name} is a synthetic package that exists only in metadata; it is \
         used to benchmark syncing large repositories.</description>"
    )?;
    writeln!(w, "  <packager>Depot Benchmarks</packager>")?;
    writeln!(w, "  <url>https://depot.invalid/{name}</url>")?;
    writeln!(
        w,
        "  <time file=\"{}\" build=\"{}\"/>",
        p.time + 3600,
        p.time
    )?;
    writeln!(
        w,
        "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
        p.size_package,
        p.size_installed,
        p.size_installed + 1024
    )?;
    writeln!(w, "  <location href=\"{}\"/>", xml_escape(&p.location_href))?;
    writeln!(w, "  <format>")?;
    writeln!(w, "    <rpm:license>MIT</rpm:license>")?;
    writeln!(w, "    <rpm:vendor>Depot</rpm:vendor>")?;
    writeln!(w, "    <rpm:group>Unspecified</rpm:group>")?;
    writeln!(w, "    <rpm:buildhost>bench.depot.invalid</rpm:buildhost>")?;
    writeln!(
        w,
        "    <rpm:sourcerpm>{name}-{}-{}.src.rpm</rpm:sourcerpm>",
        p.version, p.release
    )?;
    writeln!(
        w,
        "    <rpm:header-range start=\"4504\" end=\"{}\"/>",
        4504 + 2000 + p.files.len() * 120
    )?;
    for (tag, deps) in [("provides", &p.provides), ("requires", &p.requires)] {
        if deps.is_empty() {
            continue;
        }
        writeln!(w, "    <rpm:{tag}>")?;
        for d in deps {
            writeln!(w, "      {}", dep_xml(d))?;
        }
        writeln!(w, "    </rpm:{tag}>")?;
    }
    for (path, dir) in &p.files {
        if is_primary_file(path) {
            if *dir {
                writeln!(w, "    <file type=\"dir\">{}</file>", xml_escape(path))?;
            } else {
                writeln!(w, "    <file>{}</file>", xml_escape(path))?;
            }
        }
    }
    writeln!(w, "  </format>")?;
    writeln!(w, "</package>")
}

fn write_filelists(w: &mut impl Write, p: &SyntheticPackage) -> io::Result<()> {
    writeln!(
        w,
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">",
        p.pkgid,
        xml_escape(&p.name),
        p.arch
    )?;
    writeln!(
        w,
        "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        p.epoch, p.version, p.release
    )?;
    for (path, dir) in &p.files {
        if *dir {
            writeln!(w, "  <file type=\"dir\">{}</file>", xml_escape(path))?;
        } else {
            writeln!(w, "  <file>{}</file>", xml_escape(path))?;
        }
    }
    writeln!(w, "</package>")
}

fn write_other(w: &mut impl Write, p: &SyntheticPackage) -> io::Result<()> {
    writeln!(
        w,
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">",
        p.pkgid,
        xml_escape(&p.name),
        p.arch
    )?;
    writeln!(
        w,
        "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        p.epoch, p.version, p.release
    )?;
    for (author, date, text) in &p.changelog {
        writeln!(
            w,
            "  <changelog author=\"{}\" date=\"{date}\">{}</changelog>",
            xml_escape(author),
            xml_escape(text)
        )?;
    }
    writeln!(w, "</package>")
}

/// Write `dir/repodata/` (primary, filelists, other as `.xml.gz`, and repomd.xml with
/// checksums, open-checksums, sizes, open-sizes and timestamps) for `n_packages` synthetic
/// packages of `files_per_package` files each, without building or writing any package.
/// Deterministic for given arguments; streams (one thread per file, constant memory).
pub fn synthetic_repodata(
    dir: &Path,
    n_packages: usize,
    files_per_package: usize,
    seed: u64,
) -> SyntheticRepo {
    let repodata = dir.join("repodata");
    if repodata.exists() {
        std::fs::remove_dir_all(&repodata).expect("remove old repodata");
    }
    std::fs::create_dir_all(&repodata).expect("create repodata");
    type Body = fn(&mut GzStream, &SyntheticPackage) -> io::Result<()>;
    let kinds: [(&str, String, Body, &str); 3] = [
        (
            "primary",
            format!(
                "<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
                 xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{n_packages}\">"
            ),
            |w, p| write_primary(w, p),
            "</metadata>",
        ),
        (
            "filelists",
            format!(
                "<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" \
                 packages=\"{n_packages}\">"
            ),
            |w, p| write_filelists(w, p),
            "</filelists>",
        ),
        (
            "other",
            format!(
                "<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" \
                 packages=\"{n_packages}\">"
            ),
            |w, p| write_other(w, p),
            "</otherdata>",
        ),
    ];
    let written: Vec<(String, Written)> = std::thread::scope(|s| {
        let handles: Vec<_> = kinds
            .iter()
            .map(|(kind, open, body, close)| {
                let repodata = &repodata;
                s.spawn(move || {
                    let tmp = repodata.join(format!(".{kind}.xml.gz.tmp"));
                    let mut w = gz_stream(&tmp);
                    writeln!(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>").unwrap();
                    writeln!(w, "{open}").unwrap();
                    for i in 0..n_packages {
                        body(&mut w, &synthetic_package(i, files_per_package, seed))
                            .expect("write repodata");
                    }
                    writeln!(w, "{close}").unwrap();
                    let done = gz_finish(w);
                    let href = format!("repodata/{}-{kind}.xml.gz", done.sha);
                    std::fs::rename(&tmp, dir.join(&href)).expect("rename repodata");
                    (href, done)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let timestamp = 1_700_000_000u64 + n_packages as u64;
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <repomd xmlns=\"http://linux.duke.edu/metadata/repo\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    let _ = writeln!(xml, "  <revision>{timestamp}</revision>");
    for ((kind, ..), (href, w)) in kinds.iter().zip(&written) {
        let _ = writeln!(xml, "  <data type=\"{kind}\">");
        let _ = writeln!(xml, "    <checksum type=\"sha256\">{}</checksum>", w.sha);
        let _ = writeln!(
            xml,
            "    <open-checksum type=\"sha256\">{}</open-checksum>",
            w.open_sha
        );
        let _ = writeln!(xml, "    <location href=\"{href}\"/>");
        let _ = writeln!(xml, "    <timestamp>{timestamp}</timestamp>");
        let _ = writeln!(xml, "    <size>{}</size>", w.size);
        let _ = writeln!(xml, "    <open-size>{}</open-size>", w.open_size);
        let _ = writeln!(xml, "  </data>");
    }
    xml.push_str("</repomd>\n");
    let repomd = repodata.join("repomd.xml");
    std::fs::write(&repomd, &xml).expect("write repomd.xml");
    SyntheticRepo {
        dir: dir.to_path_buf(),
        repomd,
        packages: n_packages,
        files_per_package,
        seed,
        records: parse_repomd(&xml),
    }
}

// ---------------------------------------------------------------------------------------------
// dnf
// ---------------------------------------------------------------------------------------------

/// Where a dnf repository's metadata comes from.
#[derive(Clone, Debug)]
pub enum DnfSource {
    BaseUrl(String),
    Mirrorlist(String),
    Metalink(String),
}

/// One repository section of the `.repo` file [`dnf`] writes.
#[derive(Clone, Debug)]
pub struct DnfRepo {
    pub id: String,
    pub source: DnfSource,
    pub gpgcheck: bool,
    pub repo_gpgcheck: bool,
    /// `gpgkey=` (a URL, e.g. `file:///.../repodata/repomd.xml.key`).
    pub gpgkey: Option<String>,
    /// More `key=value` lines (`username`, `password`, `sslverify`...).
    pub options: Vec<(String, String)>,
}

impl DnfRepo {
    pub fn baseurl(id: &str, url: &str) -> DnfRepo {
        Self::with_source(id, DnfSource::BaseUrl(url.into()))
    }
    pub fn mirrorlist(id: &str, url: &str) -> DnfRepo {
        Self::with_source(id, DnfSource::Mirrorlist(url.into()))
    }
    pub fn metalink(id: &str, url: &str) -> DnfRepo {
        Self::with_source(id, DnfSource::Metalink(url.into()))
    }
    fn with_source(id: &str, source: DnfSource) -> DnfRepo {
        DnfRepo {
            id: id.into(),
            source,
            gpgcheck: false,
            repo_gpgcheck: false,
            gpgkey: None,
            options: vec![],
        }
    }
}

#[derive(Clone, Debug)]
pub struct DnfOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run dnf with `args` against exactly `repos`, with everything under `root` (config
/// `root/dnf.conf`, repos `root/yum.repos.d/`, install root `root/installroot`, which holds
/// the cache): no host configuration or plugins, no proxies from the environment,
/// `skip_if_unavailable=False` (dnf 4.14 on Debian otherwise only warns about a broken repo
/// and exits 0), `metadata_expire=0` (every run re-checks repomd.xml),
/// `module_platform_id=platform:el9` (an empty install root has no os-release, and without a
/// platform dnf ignores modules), `-y`, `--releasever=9`. gpg-agents that dnf's gpgme starts
/// for repository keys are stopped afterwards.
pub fn dnf(root: &Path, repos: &[DnfRepo], args: &[&str]) -> DnfOutput {
    let dnf = require("dnf", "DNF");
    let reposdir = root.join("yum.repos.d");
    let installroot = root.join("installroot");
    std::fs::create_dir_all(&reposdir).expect("reposdir");
    std::fs::create_dir_all(&installroot).expect("installroot");
    let conf = root.join("dnf.conf");
    std::fs::write(
        &conf,
        format!(
            "[main]\ngpgcheck=0\nskip_if_unavailable=False\nmetadata_expire=0\n\
             install_weak_deps=False\nkeepcache=False\n\
             module_platform_id=platform:el9\nreposdir={}\n",
            reposdir.display()
        ),
    )
    .expect("dnf.conf");
    let mut text = String::new();
    for r in repos {
        let _ = writeln!(text, "[{}]\nname={}", r.id, r.id);
        match &r.source {
            DnfSource::BaseUrl(u) => writeln!(text, "baseurl={u}"),
            DnfSource::Mirrorlist(u) => writeln!(text, "mirrorlist={u}"),
            DnfSource::Metalink(u) => writeln!(text, "metalink={u}"),
        }
        .unwrap();
        let _ = writeln!(text, "enabled=1\ngpgcheck={}", r.gpgcheck as u8);
        let _ = writeln!(text, "repo_gpgcheck={}", r.repo_gpgcheck as u8);
        if let Some(k) = &r.gpgkey {
            let _ = writeln!(text, "gpgkey={k}");
        }
        for (k, v) in &r.options {
            let _ = writeln!(text, "{k}={v}");
        }
        text.push('\n');
    }
    std::fs::write(reposdir.join("depot-testkit.repo"), text).expect("write .repo");
    let out = Command::new(dnf)
        .arg("--config")
        .arg(&conf)
        .arg("--installroot")
        .arg(&installroot)
        .arg("--setopt")
        .arg(format!("reposdir={}", reposdir.display()))
        .arg("--releasever=9")
        .arg("--noplugins")
        .arg("--assumeyes")
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env("no_proxy", "*")
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .output()
        .expect("run dnf");
    if repos.iter().any(|r| r.repo_gpgcheck || r.gpgcheck) {
        stop_gpg_agents(&installroot);
    }
    DnfOutput {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Stop the gpg-agent of GnuPG home `home` (gpg starts one per home and leaves it running).
fn kill_agent(gpgconf: &Path, home: &Path) {
    let _ = Command::new(gpgconf)
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "all"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// dnf's gpgme starts a gpg-agent per keyring it imports repository keys into (under the
/// install root) and leaves it running: stop those.
fn stop_gpg_agents(dir: &Path) {
    let gpgconf = require("gpgconf", "GPGCONF");
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut is_home = false;
        for e in entries.flatten() {
            let name = e.file_name();
            if name == "pubring.kbx" || name == "pubring.gpg" {
                is_home = true;
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(e.path());
            }
        }
        if is_home {
            kill_agent(&gpgconf, &d);
        }
    }
}

/// `dnf repoquery --quiet <extra>` against one repository; panics unless dnf succeeded.
/// Returns stdout's non-empty lines, sorted. (repoquery's default format always has the
/// epoch: `name-0:1.0-1.noarch`, i.e. [`RepoPackage::nevra`].)
pub fn dnf_repoquery(root: &Path, repo: DnfRepo, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["repoquery", "--quiet"];
    args.extend_from_slice(extra);
    let out = dnf(root, &[repo], &args);
    assert!(
        out.success,
        "dnf {args:?} failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    let mut lines: Vec<String> = out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn expected_nevras(info: &RepoInfo) -> Vec<String> {
        let mut v: Vec<String> = info.packages.iter().map(|p| p.nevra()).collect();
        v.sort();
        v
    }

    #[test]
    fn dates() {
        assert_eq!(changelog_date(FIXTURE_EPOCH), "Mon Jan 01 2024");
        assert_eq!(changelog_date(day(2024, 2, 29)), "Thu Feb 29 2024");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(day(1970, 1, 1), 0);
    }

    #[test]
    fn version_compare() {
        use std::cmp::Ordering::*;
        assert_eq!(rpmvercmp("3.2", "3.1"), Greater);
        assert_eq!(rpmvercmp("3.10", "3.9"), Greater);
        assert_eq!(rpmvercmp("1.0~rc1", "1.0"), Less);
        assert_eq!(rpmvercmp("1.0a", "1.0"), Greater);
        assert_eq!(rpmvercmp("2", "2"), Equal);
    }

    /// rpmbuild gives the requested NEVRA, deps, files and changelog; builds are
    /// reproducible and cached.
    #[test]
    fn build_rpm_has_requested_headers() {
        let tmp = tempfile::tempdir().unwrap();
        let arch = native_arch();
        let spec = PackageSpec {
            name: "depot-unit".into(),
            epoch: Some(3),
            version: "1.2".into(),
            release: "5".into(),
            arch: arch.into(),
            summary: "Unit test package".into(),
            requires: vec!["depot-base >= 1.0".into()],
            provides: vec!["depot-unit-cap = 7".into()],
            files: vec![
                ("/usr/bin/depot-unit".into(), 5000),
                ("/etc/depot-unit.conf".into(), 64),
                ("/usr/share/depot-unit/sub/data.bin".into(), 2048),
            ],
            changelog: vec![
                ChangelogEntry::new(day(2023, 5, 1), "A <a@depot.invalid> - 1.1-1", "old"),
                ChangelogEntry::new(day(2024, 5, 1), "B <b@depot.invalid> - 1.2-5", "- new"),
            ],
            ..Default::default()
        };
        let started = Instant::now();
        let path = build_rpm(tmp.path(), &spec);
        let first = started.elapsed();
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            format!("depot-unit-1.2-5.{arch}.rpm")
        );
        let out = run(
            Command::new(require("rpm", "RPM"))
                .args(["-qp", "--nosignature", "--qf"])
                .arg(
                    "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{BUILDTIME}\n\
                     [R:%{REQUIRENEVRS}\n][P:%{PROVIDENEVRS}\n][F:%{FILENAMES} %{FILESIZES} \
                     %{FILEFLAGS:fflags}\n][C:%{CHANGELOGTEXT}\n]",
                )
                .arg(&path),
            "rpm -qp",
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with(&format!("depot-unit|3|1.2|5|{arch}|{}", day(2024, 5, 1))),
            "{text}"
        );
        assert!(text.contains("R:depot-base >= 1.0"), "{text}");
        assert!(text.contains("P:depot-unit-cap = 7"), "{text}");
        assert!(text.contains("F:/usr/bin/depot-unit 5000"), "{text}");
        assert!(text.contains("F:/etc/depot-unit.conf 64 cn"), "{text}");
        assert!(text.contains("F:/usr/share/depot-unit/sub 0"), "{text}");
        assert!(
            text.contains("F:/usr/share/depot-unit/sub/data.bin 2048"),
            "{text}"
        );
        // Newest first, "- " added.
        let c = text.find("C:- new").expect("changelog new");
        let o = text.find("C:- old").expect("changelog old");
        assert!(c < o, "{text}");

        // Cached: same bytes, no rebuild.
        let again = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let path2 = build_rpm(again.path(), &spec);
        assert!(started.elapsed() < first);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&path2).unwrap()
        );
        // Reproducible: an uncached build gives the same bytes.
        assert_eq!(std::fs::read(&path).unwrap(), build_rpm_bytes(&spec));
        eprintln!("first build {first:?}");
    }

    /// Everything on: updateinfo, comps, modules, GnuPG signature; dnf reads it all.
    #[test]
    fn full_repo_is_valid_for_dnf() {
        let tmp = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let rpms = build_standard(&tmp.path().join("rpms"));
        let built = started.elapsed();
        assert_eq!(rpms.len(), 6);
        let started = Instant::now();
        let info = create_repo(&tmp.path().join("repo"), &rpms, &RepoOptions::full());
        eprintln!(
            "standard builds {built:?}, full repo {:?}",
            started.elapsed()
        );

        // repomd records
        let kinds: BTreeSet<String> = info.records().into_iter().map(|r| r.kind).collect();
        for k in [
            "primary",
            "filelists",
            "other",
            "group",
            "group_gz",
            "updateinfo",
            "modules",
        ] {
            assert!(kinds.contains(k), "{k} missing: {kinds:?}");
        }
        for r in info.records() {
            assert_eq!(r.checksum_type, "sha256");
            assert_eq!(
                file_digest(&info.dir.join(&r.location_href), "sha256"),
                r.checksum
            );
        }

        // Packages: NEVRAs, hrefs, checksums as primary says.
        assert_eq!(info.packages.len(), 6);
        let primary = read_repodata(&info.dir, "primary");
        for p in &info.packages {
            assert!(p.location_href.starts_with("Packages/"));
            assert!(primary.contains(&format!("<location href=\"{}\"/>", p.location_href)));
            assert!(primary.contains(&format!(
                "<checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
                p.sha256
            )));
        }
        assert!(
            info.package(&format!("depot-tool-1:2.3-4.{}", native_arch()))
                .is_some()
        );
        let tool = info
            .packages
            .iter()
            .find(|p| p.name == "depot-tool")
            .unwrap();
        assert_eq!(tool.epoch, 1);
        assert!(primary.contains("<file>/usr/bin/depot-tool</file>"));
        assert!(primary.contains("<file>/etc/depot-tool.conf</file>"));
        let other = read_repodata(&info.dir, "other");
        assert_eq!(other.matches("<changelog ").count(), 1 + 2 + 4 + 1 + 2 + 1);

        // Advisories and modules reference real packages.
        assert_eq!(info.advisories.len(), 3);
        assert_eq!(
            info.advisories[0].packages[0].nvra(),
            format!("depot-lib-3.2-1.{}", native_arch())
        );
        let updateinfo = read_repodata(&info.dir, "updateinfo");
        assert!(updateinfo.contains("<id>DEPOT-2024:1001</id>"));
        assert!(updateinfo.contains("<module name=\"depot-demo\""));
        let modules = read_repodata(&info.dir, "modules");
        assert!(modules.contains("- depot-extra-0:0.5-1.noarch"));
        assert!(modules.contains("document: modulemd-defaults"));

        // Signature: good with the published key alone, bad after a change.
        let asc = info.dir.join("repodata/repomd.xml.asc");
        let key = std::fs::read_to_string(info.dir.join("repodata/repomd.xml.key")).unwrap();
        assert_eq!(Some(&key), info.public_key.as_ref());
        let gpg = info.gpg.as_ref().unwrap();
        assert!(gpg.verify(&asc, &info.repomd));
        let (ok, err) = gpg_verify_with_key(&key, &asc, &info.repomd);
        assert!(ok, "{err}");
        let tampered = tmp.path().join("repomd-tampered.xml");
        let mut text = std::fs::read_to_string(&info.repomd).unwrap();
        text.push(' ');
        std::fs::write(&tampered, text).unwrap();
        assert!(!gpg_verify_with_key(&key, &asc, &tampered).0);

        // dnf: packages (modular filtering keeps the default stream's artifact), with
        // repo_gpgcheck against the published key.
        let root = tmp.path().join("dnf");
        let mut repo = DnfRepo::baseurl("fixture", &info.file_url());
        repo.repo_gpgcheck = true;
        repo.gpgkey = Some(format!("{}repodata/repomd.xml.key", info.file_url()));
        let started = Instant::now();
        let out = dnf(&root, &[repo.clone()], &["repoquery", "--quiet"]);
        eprintln!("dnf repoquery {:?}", started.elapsed());
        assert!(out.success, "{}\n{}", out.stdout, out.stderr);
        let mut listed: Vec<String> = out.stdout.lines().map(String::from).collect();
        listed.sort();
        assert_eq!(listed, expected_nevras(&info), "{}", out.stderr);

        // Advisories: `updateinfo list` shows only those about installed packages, so ask
        // repoquery for each advisory's packages.
        for a in &info.advisories {
            let listed = dnf_repoquery(&root, repo.clone(), &["--advisory", &a.id]);
            let want: Vec<String> = a.packages.iter().map(|p| p.nevra()).collect();
            assert_eq!(listed, want, "{}", a.id);
        }
        let listed = dnf_repoquery(&root, repo.clone(), &["--cve", "CVE-2024-10001"]);
        assert_eq!(listed, vec![info.advisories[0].packages[0].nevra()]);
        let out = dnf(&root, &[repo.clone()], &["module", "list"]);
        assert!(out.success, "{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("depot-demo 1 [d]"), "{}", out.stdout);
        let out = dnf(&root, &[repo.clone()], &["group", "list", "--ids"]);
        assert!(out.success, "{}\n{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("Depot Core (depot-core)"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("Depot Environment (depot-environment)"),
            "{}",
            out.stdout
        );

        // A signature by another key is refused.
        let other_key = GpgKey::generate("Other <other@depot.invalid>");
        std::fs::write(&asc, other_key.sign_detached(&info.repomd)).unwrap();
        let out = dnf(&tmp.path().join("dnf2"), &[repo], &["repoquery", "--quiet"]);
        assert!(!out.success, "{}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("Bad GPG signature"), "{}", out.stderr);
    }

    /// sha1/sha512 checksums, xz/bz2/zstd compression, xml:base and the Fedora layout.
    #[test]
    fn checksum_compression_and_layout_variants() {
        let tmp = tempfile::tempdir().unwrap();
        let rpms = build_standard(&tmp.path().join("rpms"));
        let variants = [
            ("sha1", "xz", PackageLayout::Flat, None),
            (
                "sha512",
                "bz2",
                PackageLayout::ByFirstLetter("Packages".into()),
                None,
            ),
            (
                "sha256",
                "zstd",
                PackageLayout::Subdir("Packages".into()),
                Some("http://127.0.0.1:1/base/"),
            ),
        ];
        for (i, (checksum, compress, layout, base)) in variants.into_iter().enumerate() {
            let opts = RepoOptions {
                checksum: checksum.into(),
                compress: compress.into(),
                layout: layout.clone(),
                xml_base: base.map(String::from),
                updateinfo: true,
                modules: compress == "zstd",
                ..Default::default()
            };
            let info = create_repo(&tmp.path().join(format!("repo{i}")), &rpms, &opts);
            let ext = compress_ext(compress);
            for r in info.records() {
                assert_eq!(r.checksum_type, checksum, "{r:?}");
                assert_eq!(
                    file_digest(&info.dir.join(&r.location_href), checksum),
                    r.checksum
                );
                assert!(r.location_href.ends_with(&format!(".{ext}")), "{r:?}");
                let open = read_decompressed(&info.dir.join(&r.location_href));
                assert_eq!(r.open_size, Some(open.len() as u64));
            }
            let primary = read_repodata(&info.dir, "primary");
            for p in &info.packages {
                assert!(primary.contains(&format!(
                    "<checksum type=\"{checksum}\" pkgid=\"YES\">{}</checksum>",
                    p.pkgid
                )));
                match &layout {
                    PackageLayout::Flat => assert_eq!(p.location_href, p.filename),
                    PackageLayout::ByFirstLetter(_) => {
                        assert_eq!(p.location_href, format!("Packages/d/{}", p.filename))
                    }
                    _ => {}
                }
            }
            if let Some(base) = base {
                assert!(
                    primary.contains(&format!("xml:base=\"{base}\"")),
                    "{primary}"
                );
                // (dnf 4.14's `repoquery --location` ignores xml:base, so only the metadata
                // is checked here.)
            }
            let listed = dnf_repoquery(
                &tmp.path().join(format!("dnf{i}")),
                DnfRepo::baseurl("v", &info.file_url()),
                &[],
            );
            assert_eq!(listed, expected_nevras(&info));
        }
        // zstd repo without xml:base for dnf.
        let info = create_repo(
            &tmp.path().join("zstd"),
            &rpms,
            &RepoOptions {
                compress: "zstd".into(),
                updateinfo: true,
                modules: true,
                ..Default::default()
            },
        );
        let listed = dnf_repoquery(
            &tmp.path().join("dnfz"),
            DnfRepo::baseurl("z", &info.file_url()),
            &[],
        );
        assert_eq!(listed, expected_nevras(&info));
        // zstd updateinfo and modules are read too.
        let listed = dnf_repoquery(
            &tmp.path().join("dnfz"),
            DnfRepo::baseurl("z", &info.file_url()),
            &["--advisory", "DEPOT-2024:1003"],
        );
        assert_eq!(listed, vec!["depot-extra-0:0.5-1.noarch".to_string()]);
    }

    /// Packages outside the repository directory: `../pool/...` hrefs that dnf resolves
    /// and downloads from.
    #[test]
    fn outside_location_repo() {
        let tmp = tempfile::tempdir().unwrap();
        let rpms = build_standard(&tmp.path().join("rpms"));
        let info = create_repo(
            &tmp.path().join("site/repo"),
            &rpms,
            &RepoOptions {
                layout: PackageLayout::Outside("pool".into()),
                sign_with_gpg: true,
                ..Default::default()
            },
        );
        let primary = read_repodata(&info.dir, "primary");
        for p in &info.packages {
            assert_eq!(p.location_href, format!("../pool/{}", p.filename));
            assert!(primary.contains(&format!("<location href=\"../pool/{}\"/>", p.filename)));
            assert!(tmp.path().join("site/pool").join(&p.filename).is_file());
        }
        assert!(!info.dir.join("Packages").exists());
        let root = tmp.path().join("dnf");
        let repo = DnfRepo::baseurl("outside", &info.file_url());
        let listed = dnf_repoquery(&root, repo.clone(), &["--location", "depot-base"]);
        assert_eq!(
            listed,
            vec![format!(
                "file://{}/../pool/depot-base-1.0-1.noarch.rpm",
                info.dir.display()
            )]
        );
        // dnf fetches the package through the ../ href and checks its checksum.
        let dest = tmp.path().join("downloaded");
        let out = dnf(
            &root,
            &[repo],
            &[
                "install",
                "--downloadonly",
                "--destdir",
                dest.to_str().unwrap(),
                "depot-base",
            ],
        );
        assert!(out.success, "{}\n{}", out.stdout, out.stderr);
        let got = dest.join("depot-base-1.0-1.noarch.rpm");
        assert_eq!(
            file_digest(&got, "sha256"),
            info.packages
                .iter()
                .find(|p| p.name == "depot-base")
                .unwrap()
                .sha256
        );
    }

    /// Mirror lists and metalinks served over HTTP on loopback, read by dnf.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mirrorlist_and_metalink_over_http() {
        let tmp = tempfile::tempdir().unwrap();
        let site = tmp.path().join("site");
        let rpms = build_standard(&tmp.path().join("rpms"));
        let info = create_repo(&site.join("repo"), &rpms, &RepoOptions::default());
        let upstream = crate::Upstream::start(&site).await;
        let base = upstream.url("repo/");
        write_mirrorlist(
            &site.join("mirrorlist"),
            &[upstream.url("missing/"), base.clone()],
        );
        write_metalink(&site.join("metalink.xml"), &info.repomd, &[base.as_str()]);
        let metalink = std::fs::read_to_string(site.join("metalink.xml")).unwrap();
        assert!(metalink.contains(&format!(
            "<hash type=\"sha256\">{}</hash>",
            file_digest(&info.repomd, "sha256")
        )));
        assert!(metalink.contains(&format!(">{base}repodata/repomd.xml</url>")));
        let mirrorlist = std::fs::read_to_string(site.join("mirrorlist")).unwrap();
        assert!(mirrorlist.starts_with('#'));

        let expected = expected_nevras(&info);
        let (ml, mr) = (upstream.url("metalink.xml"), upstream.url("mirrorlist"));
        let root = tmp.path().to_path_buf();
        let (via_metalink, via_mirrorlist) = tokio::task::spawn_blocking(move || {
            (
                dnf_repoquery(&root.join("dnf-ml"), DnfRepo::metalink("ml", &ml), &[]),
                dnf_repoquery(&root.join("dnf-mr"), DnfRepo::mirrorlist("mr", &mr), &[]),
            )
        })
        .await
        .unwrap();
        assert_eq!(via_metalink, expected);
        assert_eq!(via_mirrorlist, expected);
        assert!(upstream.hits("metalink.xml") >= 1);
        assert!(upstream.hits("mirrorlist") >= 1);
        assert!(upstream.hits("repo/repodata/repomd.xml") >= 2);

        // A metalink whose hash does not match repomd.xml is refused.
        let mut bad = metalink.clone();
        for algo in ["sha256", "sha512"] {
            let good = file_digest(&info.repomd, algo);
            bad = bad.replace(&good, &"0".repeat(good.len()));
        }
        std::fs::write(site.join("metalink.xml"), bad).unwrap();
        let ml = upstream.url("metalink.xml");
        let root = tmp.path().to_path_buf();
        let out = tokio::task::spawn_blocking(move || {
            dnf(
                &root.join("dnf-bad"),
                &[DnfRepo::metalink("ml", &ml)],
                &["repoquery"],
            )
        })
        .await
        .unwrap();
        assert!(!out.success, "{}\n{}", out.stdout, out.stderr);
    }

    /// Synthetic repodata: checksums right, and libsolv/dnf read packages, files and
    /// changelogs from it.
    #[test]
    fn synthetic_repodata_is_valid() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = synthetic_repodata(tmp.path(), 5, 30, 42);
        assert_eq!(repo.records.len(), 3);
        for r in &repo.records {
            let path = tmp.path().join(&r.location_href);
            assert_eq!(file_digest(&path, "sha256"), r.checksum);
            assert_eq!(std::fs::metadata(&path).unwrap().len(), r.size.unwrap());
            let open = read_decompressed(&path);
            assert_eq!(Some(hex::encode(Sha256::digest(&open))), r.open_checksum);
            assert_eq!(Some(open.len() as u64), r.open_size);
        }
        // Deterministic.
        let again = tempfile::tempdir().unwrap();
        let repo2 = synthetic_repodata(again.path(), 5, 30, 42);
        assert_eq!(repo.records, repo2.records);

        let mut expected: Vec<String> = (0..5)
            .map(|i| {
                let p = repo.package(i);
                assert_eq!(p.files.len(), 30);
                p.nevra()
            })
            .collect();
        expected.sort();
        let url = format!("file://{}/", tmp.path().display());
        let root = tmp.path().join("dnf");
        let listed = dnf_repoquery(&root, DnfRepo::baseurl("synth", &url), &[]);
        assert_eq!(listed, expected);
        let p3 = repo.package(3);
        let files = dnf_repoquery(&root, DnfRepo::baseurl("synth", &url), &["-l", &p3.name]);
        let mut want: Vec<String> = p3.files.iter().map(|(f, _)| f.clone()).collect();
        want.sort();
        assert_eq!(files, want);
        let reqs = dnf_repoquery(
            &root,
            DnfRepo::baseurl("synth", &url),
            &["--requires", &p3.name],
        );
        assert!(
            reqs.iter().any(|r| r == "libc.so.6()(64bit)") || p3.arch == "noarch",
            "{reqs:?}"
        );
        let out = dnf(
            &root,
            &[DnfRepo::baseurl("synth", &url)],
            &["repoquery", "--quiet", "--changelogs", &p3.name],
        );
        assert!(
            out.success && out.stdout.contains("Rebuilt for the depot benchmark"),
            "{}\n{}",
            out.stdout,
            out.stderr
        );
        let href = dnf_repoquery(
            &root,
            DnfRepo::baseurl("synth", &url),
            &["--location", &p3.name],
        );
        assert_eq!(href, vec![format!("{url}{}", p3.location_href)]);
    }
}
