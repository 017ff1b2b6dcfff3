//! Packages from uploaded `.rpm` files: the header is read (never the payload) and turned
//! into the unit and its primary, filelists and other fragments, written the way
//! createrepo_c writes them.

use std::fmt::Write as _;
use std::path::Path;

use quick_xml::escape::escape;
use rpm::{Dependency, DependencyFlags, FileFlags, FileType, PackageMetadata};

use crate::packages::{Fragment, Package};
use crate::units;

/// How many changelog entries other.xml keeps per package (createrepo_c's default).
const CHANGELOG_LIMIT: usize = 10;

/// What an upload becomes: the unit's parsed form and its three fragments.
pub struct Parsed {
    pub package: Package,
    pub filelists: Vec<u8>,
    pub other: Vec<u8>,
}

fn e(s: &str) -> String {
    escape(s).into_owned()
}

fn flags(f: DependencyFlags) -> Option<&'static str> {
    let lt = f.contains(DependencyFlags::LESS);
    let gt = f.contains(DependencyFlags::GREATER);
    let eq = f.contains(DependencyFlags::EQUAL);
    match (lt, gt, eq) {
        (true, false, true) => Some("LE"),
        (false, true, true) => Some("GE"),
        (false, false, true) => Some("EQ"),
        (true, false, false) => Some("LT"),
        (false, true, false) => Some("GT"),
        _ => None,
    }
}

/// `[epoch:]version[-release]`
fn split_evr(evr: &str) -> (String, String, Option<String>) {
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.to_string(), r),
        _ => ("0".to_string(), evr),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v.to_string(), Some(r.to_string())),
        None => (epoch, rest.to_string(), None),
    }
}

fn entries(out: &mut String, tag: &str, deps: &[Dependency], requires: bool) {
    let mut seen = std::collections::HashSet::new();
    let list: Vec<&Dependency> = deps
        .iter()
        .filter(|d| !(requires && d.name.starts_with("rpmlib(")))
        .filter(|d| seen.insert((d.name.clone(), d.flags.bits(), d.version.clone())))
        .collect();
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{tag}>");
    for d in list {
        let _ = write!(out, "      <rpm:entry name=\"{}\"", e(&d.name));
        if let (Some(f), false) = (flags(d.flags), d.version.is_empty()) {
            let (ep, ver, rel) = split_evr(&d.version);
            let _ = write!(
                out,
                " flags=\"{f}\" epoch=\"{}\" ver=\"{}\"",
                e(&ep),
                e(&ver)
            );
            if let Some(r) = rel {
                let _ = write!(out, " rel=\"{}\"", e(&r));
            }
        }
        let pre = DependencyFlags::PREREQ
            | DependencyFlags::SCRIPT_PRE
            | DependencyFlags::SCRIPT_POST
            | DependencyFlags::PRETRANS
            | DependencyFlags::POSTTRANS;
        if requires && d.flags.intersects(pre) {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{tag}>");
}

/// createrepo_c lists these files in primary.xml (the rest only in filelists.xml).
fn primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

/// Read the header of the package at `path`.
pub fn read(path: &Path, sha256: &str, size: u64) -> Result<Parsed, String> {
    let meta = PackageMetadata::open(path)
        .map_err(|e| format!("The file is not a valid RPM package: {e}"))?;
    let text = |r: Result<&str, rpm::Error>| r.map(str::to_string).unwrap_or_default();
    let name = meta
        .get_name()
        .map_err(|e| format!("The RPM header has no name: {e}"))?
        .to_string();
    let version = text(meta.get_version());
    let release = text(meta.get_release());
    let arch = if meta.is_source_package() {
        "src".to_string()
    } else {
        text(meta.get_arch())
    };
    let epoch = meta.get_epoch().unwrap_or(0).to_string();
    let summary = text(meta.get_summary());
    let url = text(meta.get_url());
    let sourcerpm = text(meta.get_source_rpm());
    let build_time = meta.get_build_time().unwrap_or(0);
    let offsets = meta.get_package_segment_offsets();
    let files = meta.get_file_entries().unwrap_or_default();

    let mut x = String::with_capacity(4096);
    x.push_str("<package type=\"rpm\">\n");
    let _ = writeln!(x, "  <name>{}</name>", e(&name));
    let _ = writeln!(x, "  <arch>{}</arch>", e(&arch));
    let _ = writeln!(
        x,
        "  <version epoch=\"{epoch}\" ver=\"{}\" rel=\"{}\"/>",
        e(&version),
        e(&release)
    );
    let _ = writeln!(
        x,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{sha256}</checksum>"
    );
    let _ = writeln!(x, "  <summary>{}</summary>", e(&summary));
    let _ = writeln!(
        x,
        "  <description>{}</description>",
        e(&text(meta.get_description()))
    );
    let _ = writeln!(
        x,
        "  <packager>{}</packager>",
        e(&text(meta.get_packager()))
    );
    let _ = writeln!(x, "  <url>{}</url>", e(&url));
    let _ = writeln!(x, "  <time file=\"{build_time}\" build=\"{build_time}\"/>");
    let _ = writeln!(
        x,
        "  <size package=\"{size}\" installed=\"{}\" archive=\"{}\"/>",
        meta.get_installed_size().unwrap_or(0),
        size.saturating_sub(offsets.payload)
    );
    x.push_str("  ");
    let cut = x.len();
    x.push('\n');
    x.push_str("  <format>\n");
    let _ = writeln!(
        x,
        "    <rpm:license>{}</rpm:license>",
        e(&text(meta.get_license()))
    );
    let _ = writeln!(
        x,
        "    <rpm:vendor>{}</rpm:vendor>",
        e(&text(meta.get_vendor()))
    );
    let _ = writeln!(
        x,
        "    <rpm:group>{}</rpm:group>",
        e(&text(meta.get_group()))
    );
    let _ = writeln!(
        x,
        "    <rpm:buildhost>{}</rpm:buildhost>",
        e(&text(meta.get_build_host()))
    );
    let _ = writeln!(x, "    <rpm:sourcerpm>{}</rpm:sourcerpm>", e(&sourcerpm));
    let _ = writeln!(
        x,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        offsets.header, offsets.payload
    );
    entries(
        &mut x,
        "provides",
        &meta.get_provides().unwrap_or_default(),
        false,
    );
    entries(
        &mut x,
        "requires",
        &meta.get_requires().unwrap_or_default(),
        true,
    );
    entries(
        &mut x,
        "conflicts",
        &meta.get_conflicts().unwrap_or_default(),
        false,
    );
    entries(
        &mut x,
        "obsoletes",
        &meta.get_obsoletes().unwrap_or_default(),
        false,
    );
    entries(
        &mut x,
        "suggests",
        &meta.get_suggests().unwrap_or_default(),
        false,
    );
    entries(
        &mut x,
        "enhances",
        &meta.get_enhances().unwrap_or_default(),
        false,
    );
    entries(
        &mut x,
        "recommends",
        &meta.get_recommends().unwrap_or_default(),
        false,
    );
    entries(
        &mut x,
        "supplements",
        &meta.get_supplements().unwrap_or_default(),
        false,
    );

    let version_el = format!(
        "<version epoch=\"{epoch}\" ver=\"{}\" rel=\"{}\"/>",
        e(&version),
        e(&release)
    );
    let head = format!(
        "<package pkgid=\"{sha256}\" name=\"{}\" arch=\"{}\">\n  {version_el}\n",
        e(&name),
        e(&arch)
    );
    let mut filelists = head.clone();
    for f in &files {
        let path = f.path().to_string_lossy().into_owned();
        let kind = if f.flags().contains(FileFlags::GHOST) {
            " type=\"ghost\""
        } else if f.file_type() == FileType::Dir {
            " type=\"dir\""
        } else {
            ""
        };
        let line = format!("<file{kind}>{}</file>\n", e(&path));
        if primary_file(&path) {
            x.push_str("    ");
            x.push_str(&line);
        }
        filelists.push_str("  ");
        filelists.push_str(&line);
    }
    x.push_str("  </format>\n</package>");
    filelists.push_str("</package>");

    let mut other = head;
    let mut log = meta.get_changelog_entries().unwrap_or_default();
    log.sort_by_key(|c| std::cmp::Reverse(c.timestamp));
    log.truncate(CHANGELOG_LIMIT);
    log.reverse();
    for c in log {
        let _ = writeln!(
            other,
            "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
            e(&c.name),
            c.timestamp,
            e(&c.description)
        );
    }
    other.push_str("</package>");

    let mut package = Package {
        name,
        epoch,
        version,
        release,
        arch,
        pkgid: sha256.to_string(),
        checksum_type: "sha256".into(),
        summary,
        url,
        location_href: String::new(),
        location_base: None,
        size_package: Some(size),
        time_build: Some(build_time as i64),
        sourcerpm,
        fragment: Fragment::encode(cut, x.as_bytes()),
    };
    package.location_href = package.filename();
    Ok(Parsed {
        package,
        filelists: filelists.into_bytes(),
        other: other.into_bytes(),
    })
}

/// The unit of an uploaded package stored as `artifact_id`.
pub fn unit(parsed: Parsed, artifact_id: String) -> depot_store::content::NewUnit {
    units::package(
        parsed.package,
        None,
        Some(artifact_id),
        vec![
            (units::FILELISTS.to_string(), parsed.filelists),
            (units::OTHER.to_string(), parsed.other),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evr_and_flags() {
        assert_eq!(
            split_evr("1:2.3-4"),
            ("1".into(), "2.3".into(), Some("4".into()))
        );
        assert_eq!(split_evr("2.3"), ("0".into(), "2.3".into(), None));
        assert_eq!(flags(DependencyFlags::GE), Some("GE"));
        assert_eq!(flags(DependencyFlags::ANY), None);
    }

    #[test]
    fn garbage_is_not_a_package() {
        let dir = std::env::temp_dir().join(format!("depot-rpm-upload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.rpm");
        std::fs::write(
            &f,
            b"not an rpm at all, just some bytes that are long enough",
        )
        .unwrap();
        let e = read(&f, "00", 10).err().unwrap();
        assert!(e.contains("not a valid RPM"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
