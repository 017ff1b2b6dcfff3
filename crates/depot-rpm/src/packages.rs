//! Streaming parsers of `primary.xml`, `filelists.xml` and `other.xml`.
//!
//! Each `<package>` element is read on its own and handed to a callback together with its
//! bytes, re-serialized verbatim from the reader's events, so a publication can write the
//! element out again without re-deriving it. Only one package is in memory at a time.
//!
//! In primary fragments the `<location>` element is cut out: where a package lives depends on
//! the publication's layout. [`Fragment`] keeps the byte offset of the cut.

use std::io::BufRead;

use quick_xml::events::Event;

use crate::xml::{self, Capture, Text, attr};

/// Package checksum types a package's identity may use.
pub const CHECKSUM_TYPES: &[&str] = &["md5", "sha", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// One `<package>` of primary.xml.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub pkgid: String,
    pub checksum_type: String,
    pub summary: String,
    pub url: String,
    pub location_href: String,
    pub location_base: Option<String>,
    pub size_package: Option<u64>,
    pub time_build: Option<i64>,
    pub sourcerpm: String,
    /// The element without its `<location>`; see [`Fragment`].
    pub fragment: Vec<u8>,
}

impl Package {
    /// `name-epoch:version-release.arch`
    pub fn nevra(&self) -> String {
        nevra(
            &self.name,
            &self.epoch,
            &self.version,
            &self.release,
            &self.arch,
        )
    }

    /// The file name the package is stored and published under, `name-version-release.arch.rpm`
    /// (like Pulp, whatever the upstream file was called).
    pub fn filename(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }
}

pub fn nevra(name: &str, epoch: &str, version: &str, release: &str, arch: &str) -> String {
    let epoch = if epoch.is_empty() { "0" } else { epoch };
    format!("{name}-{epoch}:{version}-{release}.{arch}")
}

/// The last segment of a location, when it names a file.
pub fn filename_of(href: &str) -> Option<&str> {
    href.rsplit('/').next().filter(|s| !s.is_empty())
}

/// A stored primary fragment: `<offset>\n<xml>`, the `<location>` element belonging at byte
/// `offset` of the xml.
pub struct Fragment;

impl Fragment {
    pub fn encode(offset: usize, xml: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(xml.len() + 8);
        v.extend_from_slice(offset.to_string().as_bytes());
        v.push(b'\n');
        v.extend_from_slice(xml);
        v
    }

    /// Write the fragment with `<location href="…"/>` put back.
    pub fn write_with_location(body: &[u8], href: &str, out: &mut Vec<u8>) -> Result<(), String> {
        let nl = body
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("a stored package fragment is damaged")?;
        let offset: usize = std::str::from_utf8(&body[..nl])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("a stored package fragment is damaged")?;
        let xml = &body[nl + 1..];
        if offset > xml.len() {
            return Err("a stored package fragment is damaged".into());
        }
        out.extend_from_slice(&xml[..offset]);
        out.extend_from_slice(b"<location href=\"");
        out.extend_from_slice(quick_xml::escape::escape(href).as_bytes());
        out.extend_from_slice(b"\"/>");
        out.extend_from_slice(&xml[offset..]);
        Ok(())
    }
}

/// Read primary.xml, calling `each` for every package. Returns the number of packages.
pub fn parse_primary<R: BufRead>(
    input: R,
    mut each: impl FnMut(Package) -> Result<(), String>,
) -> Result<u64, String> {
    const WHAT: &str = "primary.xml";
    let mut reader = xml::reader(input);
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut text = Text::default();
    let mut count = 0u64;
    let mut seen_root = false;
    // state of the package being read
    let mut cap: Option<Capture> = None;
    let mut pkg = Package::default();
    let mut depth = 0usize; // inside <package>: 1 = its direct children
    let mut cut: Option<usize> = None;
    let mut skipping_location = false;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml::error(WHAT, &reader, e))?;
        if let Some(c) = cap.as_mut() {
            match &ev {
                Event::Start(e) | Event::Empty(e) => {
                    let empty = matches!(ev, Event::Empty(_));
                    let name = e.local_name();
                    let name = name.as_ref();
                    text.clear();
                    if depth == 1 {
                        match name {
                            "version" => {
                                pkg.epoch = attr(e, "epoch").unwrap_or_else(|| "0".into());
                                pkg.version = attr(e, "ver").unwrap_or_default();
                                pkg.release = attr(e, "rel").unwrap_or_default();
                            }
                            "checksum" => pkg.checksum_type = attr(e, "type").unwrap_or_default(),
                            "size" => {
                                pkg.size_package = attr(e, "package").and_then(|s| s.parse().ok())
                            }
                            "time" => {
                                pkg.time_build = attr(e, "build").and_then(|s| s.parse().ok())
                            }
                            "location" => {
                                pkg.location_href = attr(e, "href").unwrap_or_default();
                                pkg.location_base = attr(e, "xml:base");
                                cut = Some(c.len());
                                if !empty {
                                    skipping_location = true;
                                }
                                if !empty {
                                    depth += 1;
                                }
                                buf.clear();
                                continue;
                            }
                            _ => {}
                        }
                    }
                    if !empty {
                        depth += 1;
                    }
                }
                Event::Text(t) => text.push_text(t),
                Event::GeneralRef(r) => text.push_ref(r).map_err(|e| format!("{WHAT}: {e}"))?,
                Event::CData(t) => text.push_str(&t.xml10_content()),
                Event::End(e) => {
                    depth -= 1;
                    if skipping_location {
                        skipping_location = depth > 1;
                        buf.clear();
                        continue;
                    }
                    if depth == 1 {
                        match e.local_name().as_ref() {
                            "name" => pkg.name = text.take(),
                            "arch" => pkg.arch = text.take(),
                            "checksum" => pkg.pkgid = text.take(),
                            "summary" => pkg.summary = text.take(),
                            "url" => pkg.url = text.take(),
                            _ => {}
                        }
                    } else if depth == 2 && e.local_name().as_ref() == "sourcerpm" {
                        pkg.sourcerpm = text.take();
                    }
                }
                Event::Eof => return Err(format!("{WHAT} ends inside a <package>")),
                _ => {}
            }
            if skipping_location {
                buf.clear();
                continue;
            }
            if c.push(&ev) {
                let done = cap.take().expect("capturing");
                let xml = done.finish();
                let mut p = std::mem::take(&mut pkg);
                let offset = cut
                    .take()
                    .ok_or_else(|| format!("{WHAT}: package '{}' has no <location>", p.nevra()))?;
                p.fragment = Fragment::encode(offset, &xml);
                check_package(&p)?;
                count += 1;
                each(p)?;
                depth = 0;
            }
        } else {
            match &ev {
                Event::Start(e) => match e.local_name().as_ref() {
                    "metadata" => seen_root = true,
                    "package" if seen_root => {
                        cap = Some(Capture::new(e, 4096));
                        pkg = Package::default();
                        depth = 1;
                        cut = None;
                    }
                    other => {
                        return Err(format!("{WHAT}: unexpected element <{other}>"));
                    }
                },
                Event::Empty(e) if e.local_name().as_ref() == "metadata" => seen_root = true,
                Event::Eof => break,
                _ => {}
            }
        }
        buf.clear();
    }
    if !seen_root {
        return Err(format!("{WHAT} has no <metadata> element"));
    }
    Ok(count)
}

fn check_package(p: &Package) -> Result<(), String> {
    if p.name.is_empty() || p.version.is_empty() || p.arch.is_empty() {
        return Err(format!(
            "primary.xml: a package lacks its name, version or arch (near '{}')",
            p.nevra()
        ));
    }
    if p.pkgid.is_empty() || !CHECKSUM_TYPES.contains(&p.checksum_type.as_str()) {
        return Err(format!(
            "primary.xml: package '{}' has no usable checksum (type '{}')",
            p.nevra(),
            p.checksum_type
        ));
    }
    if p.location_href.is_empty() || filename_of(&p.location_href).is_none() {
        return Err(format!(
            "primary.xml: package '{}' has no location",
            p.nevra()
        ));
    }
    Ok(())
}

/// One `<package>` of filelists.xml or other.xml: the package's checksum and the element.
pub struct Extra {
    pub pkgid: String,
    pub fragment: Vec<u8>,
}

/// Read filelists.xml (`root` = "filelists") or other.xml (`root` = "otherdata").
pub fn parse_extra<R: BufRead>(
    input: R,
    root: &str,
    mut each: impl FnMut(Extra) -> Result<(), String>,
) -> Result<u64, String> {
    let what = if root == "filelists" {
        "filelists.xml"
    } else {
        "other.xml"
    };
    let mut reader = xml::reader(input);
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut cap: Option<(Capture, String)> = None;
    let mut count = 0;
    let mut seen_root = false;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml::error(what, &reader, e))?;
        if let Some((c, _)) = cap.as_mut() {
            if matches!(ev, Event::Eof) {
                return Err(format!("{what} ends inside a <package>"));
            }
            if c.push(&ev) {
                let (c, pkgid) = cap.take().expect("capturing");
                count += 1;
                each(Extra {
                    pkgid,
                    fragment: c.finish(),
                })?;
            }
        } else {
            match &ev {
                Event::Start(e) | Event::Empty(e) => {
                    let name = e.local_name();
                    if name.as_ref() == root {
                        seen_root = true;
                    } else if name.as_ref() == "package" && seen_root {
                        let pkgid = attr(e, "pkgid")
                            .filter(|s| !s.is_empty())
                            .ok_or_else(|| format!("{what}: a <package> has no pkgid"))?;
                        if matches!(ev, Event::Start(_)) {
                            cap = Some((Capture::new(e, 2048), pkgid));
                        }
                    } else {
                        return Err(format!("{what}: unexpected element <{}>", name.as_ref()));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        buf.clear();
    }
    if !seen_root {
        return Err(format!("{what} has no <{root}> element"));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>foo</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="1.0" rel="1.el9"/>
  <checksum type="sha256" pkgid="YES">aaaa</checksum>
  <summary>Foo &amp; bar</summary>
  <description>A &lt;test&gt;</description>
  <packager></packager>
  <url>http://example.invalid/</url>
  <time file="1700000001" build="1700000000"/>
  <size package="1234" installed="5678" archive="6000"/>
  <location href="Packages/f/foo-1.0-1.el9.x86_64.rpm"/>
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:sourcerpm>foo-1.0-1.el9.src.rpm</rpm:sourcerpm>
    <rpm:provides>
      <rpm:entry name="foo" flags="EQ" epoch="0" ver="1.0" rel="1.el9"/>
    </rpm:provides>
    <file>/usr/bin/foo</file>
  </format>
</package>
<package type="rpm">
  <name>bar</name>
  <arch>noarch</arch>
  <version epoch="2" ver="3" rel="4"/>
  <checksum type="sha512" pkgid="YES">bbbb</checksum>
  <summary/>
  <location xml:base="http://other.invalid/x/" href="bar-3-4.noarch.rpm"></location>
  <format/>
</package>
</metadata>"#;

    #[test]
    fn primary_packages_and_fragments() {
        let mut got = Vec::new();
        let n = parse_primary(PRIMARY.as_bytes(), |p| {
            got.push(p);
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 2);
        let foo = &got[0];
        assert_eq!(foo.nevra(), "foo-0:1.0-1.el9.x86_64");
        assert_eq!(foo.pkgid, "aaaa");
        assert_eq!(foo.checksum_type, "sha256");
        assert_eq!(foo.summary, "Foo & bar");
        assert_eq!(foo.size_package, Some(1234));
        assert_eq!(foo.time_build, Some(1700000000));
        assert_eq!(foo.sourcerpm, "foo-1.0-1.el9.src.rpm");
        assert_eq!(foo.filename(), "foo-1.0-1.el9.x86_64.rpm");
        assert_eq!(foo.location_href, "Packages/f/foo-1.0-1.el9.x86_64.rpm");
        let mut out = Vec::new();
        Fragment::write_with_location(&foo.fragment, "Packages/f/x.rpm", &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("<package type=\"rpm\">"), "{out}");
        assert!(out.ends_with("</package>"), "{out}");
        assert!(
            out.contains("<location href=\"Packages/f/x.rpm\"/>\n  <format>"),
            "{out}"
        );
        assert!(!out.contains("Packages/f/foo"), "{out}");
        assert!(out.contains("<summary>Foo &amp; bar</summary>"), "{out}");
        let bar = &got[1];
        assert_eq!(
            bar.location_base.as_deref(),
            Some("http://other.invalid/x/")
        );
        assert_eq!(bar.epoch, "2");
        let mut out = Vec::new();
        Fragment::write_with_location(&bar.fragment, "b.rpm", &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("<location href=\"b.rpm\"/>\n  <format/>"),
            "{out}"
        );
        assert!(!out.contains("other.invalid"), "{out}");
    }

    #[test]
    fn broken_primary_is_refused() {
        let cut = &PRIMARY[..PRIMARY.len() / 2];
        assert!(parse_primary(cut.as_bytes(), |_| Ok(())).is_err());
        let no_checksum = PRIMARY.replace(
            "<checksum type=\"sha256\" pkgid=\"YES\">aaaa</checksum>",
            "",
        );
        let e = parse_primary(no_checksum.as_bytes(), |_| Ok(())).unwrap_err();
        assert!(e.contains("foo-0:1.0-1.el9.x86_64"), "{e}");
        assert!(parse_primary(&b"<html><body/></html>"[..], |_| Ok(())).is_err());
    }

    #[test]
    fn filelists_entries() {
        let xml = r#"<?xml version="1.0"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="1">
<package pkgid="aaaa" name="foo" arch="x86_64">
  <version epoch="0" ver="1.0" rel="1.el9"/>
  <file>/usr/bin/foo</file>
  <file type="dir">/usr/share/foo</file>
</package>
<package pkgid="bbbb" name="bar" arch="noarch"><version epoch="2" ver="3" rel="4"/></package>
</filelists>"#;
        let mut got = Vec::new();
        let n = parse_extra(xml.as_bytes(), "filelists", |e| {
            got.push(e);
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(got[0].pkgid, "aaaa");
        let s = String::from_utf8(got[0].fragment.clone()).unwrap();
        assert!(s.starts_with("<package pkgid=\"aaaa\""), "{s}");
        assert!(
            s.contains("<file type=\"dir\">/usr/share/foo</file>"),
            "{s}"
        );
        assert!(s.ends_with("</package>"));
        assert!(parse_extra(xml.as_bytes(), "otherdata", |_| Ok(())).is_err());
    }
}
