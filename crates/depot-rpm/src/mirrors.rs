//! Mirror lists and metalinks: a remote `url` that names neither a repository nor its
//! `repodata/`, but a document listing repository base URLs.

use quick_xml::events::Event;

use crate::xml::{self, Text, attr};

/// What a mirror document says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirrors {
    /// Repository base URLs, best first (each ends with `/`).
    pub bases: Vec<String>,
    /// sha256 checksums `repomd.xml` may have (metalinks only; empty = not checked).
    pub repomd_sha256: Vec<String>,
}

/// Parse a metalink (XML) or a mirrorlist (one URL per line).
pub fn parse(doc: &[u8]) -> Result<Mirrors, String> {
    let head = String::from_utf8_lossy(&doc[..doc.len().min(512)]);
    if head.trim_start().starts_with('<') {
        parse_metalink(doc)
    } else {
        parse_mirrorlist(doc)
    }
}

fn base_of(url: &str) -> String {
    let url = url.trim();
    let url = url.strip_suffix("repodata/repomd.xml").unwrap_or(url);
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

fn parse_mirrorlist(doc: &[u8]) -> Result<Mirrors, String> {
    let text = std::str::from_utf8(doc).map_err(|_| "the mirror list is not text".to_string())?;
    let bases: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| is_http(l))
        .map(base_of)
        .collect();
    if bases.is_empty() {
        return Err("the mirror list names no http(s) mirror".into());
    }
    Ok(Mirrors {
        bases,
        repomd_sha256: vec![],
    })
}

fn parse_metalink(doc: &[u8]) -> Result<Mirrors, String> {
    let mut reader = xml::reader(doc);
    let mut buf = Vec::new();
    let mut text = Text::default();
    let mut in_repomd = false;
    let mut hash_type: Option<String> = None;
    let mut url_pref: Option<i64> = None;
    let mut urls: Vec<(i64, usize, String)> = Vec::new();
    let mut hashes = Vec::new();
    let mut seen_root = false;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml::error("the metalink", &reader, e))?;
        match &ev {
            Event::Start(e) => {
                text.clear();
                match e.local_name().as_ref() {
                    "metalink" => seen_root = true,
                    "file" => in_repomd = attr(e, "name").as_deref() == Some("repomd.xml"),
                    "hash" if in_repomd => hash_type = attr(e, "type"),
                    "url" if in_repomd => {
                        url_pref = Some(
                            attr(e, "preference")
                                .and_then(|p| p.parse().ok())
                                .unwrap_or(0),
                        )
                    }
                    _ => {}
                }
            }
            Event::Text(t) => text.push_text(t),
            Event::GeneralRef(r) => text.push_ref(r).map_err(|e| format!("the metalink: {e}"))?,
            Event::End(e) => match e.local_name().as_ref() {
                "file" => in_repomd = false,
                "hash" if hash_type.take().as_deref() == Some("sha256") => {
                    hashes.push(text.take().to_ascii_lowercase());
                }
                "url" => {
                    if let Some(p) = url_pref.take() {
                        let u = text.take();
                        if is_http(&u) {
                            let n = urls.len();
                            urls.push((p, n, base_of(&u)));
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err("the mirror document is XML but not a metalink".into());
    }
    urls.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    if urls.is_empty() {
        return Err("the metalink names no http(s) mirror of repomd.xml".into());
    }
    Ok(Mirrors {
        bases: urls.into_iter().map(|(_, _, u)| u).collect(),
        repomd_sha256: hashes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrorlist() {
        let m =
            parse(b"# comment\nhttp://127.0.0.1:1/a/\n\nhttp://127.0.0.1:2/b\nftp://x/\n").unwrap();
        assert_eq!(m.bases, ["http://127.0.0.1:1/a/", "http://127.0.0.1:2/b/"]);
        assert!(parse(b"# nothing\n").is_err());
    }

    #[test]
    fn metalink() {
        let doc = br#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   <size>4170</size>
   <verification>
    <hash type="md5">abc</hash>
    <hash type="sha256">AAAA</hash>
   </verification>
   <mm0:alternates><mm0:alternate><verification><hash type="sha256">bbbb</hash></verification></mm0:alternate></mm0:alternates>
   <resources maxconnections="1">
    <url protocol="http" type="http" location="DE" preference="90">http://127.0.0.1:1/x/repodata/repomd.xml</url>
    <url protocol="rsync" type="rsync" preference="99">rsync://127.0.0.1/x/repodata/repomd.xml</url>
    <url protocol="http" type="http" location="US" preference="100">http://127.0.0.1:2/y/repodata/repomd.xml</url>
   </resources>
  </file>
 </files>
</metalink>"#;
        let m = parse(doc).unwrap();
        assert_eq!(m.bases, ["http://127.0.0.1:2/y/", "http://127.0.0.1:1/x/"]);
        assert_eq!(m.repomd_sha256, ["aaaa", "bbbb"]);
        assert!(parse(b"<html/>").is_err());
    }
}
