//! `repodata/repomd.xml`: the index of a repository's metadata records.

use quick_xml::events::Event;

use crate::xml::{self, Text, attr};

/// One `<data>` record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub data_type: String,
    pub checksum_type: String,
    pub checksum: String,
    pub open_checksum_type: Option<String>,
    pub open_checksum: Option<String>,
    pub location_href: String,
    /// `xml:base` of the location, if any.
    pub location_base: Option<String>,
    pub timestamp: Option<i64>,
    pub size: Option<u64>,
    pub open_size: Option<u64>,
}

/// The parsed index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repomd {
    pub revision: Option<String>,
    pub records: Vec<Record>,
}

/// Parse repomd.xml. Errors say what is wrong.
pub fn parse(xml: &[u8]) -> Result<Repomd, String> {
    let mut reader = xml::reader(xml);
    let mut buf = Vec::new();
    let mut out = Repomd::default();
    let mut current: Option<Record> = None;
    let mut field: Option<String> = None;
    let mut text = Text::default();
    let mut seen_root = false;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml::error("repomd.xml", &reader, e))?;
        match &ev {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                match name.as_str() {
                    "repomd" => seen_root = true,
                    "data" => {
                        current = Some(Record {
                            data_type: attr(e, "type").unwrap_or_default(),
                            ..Default::default()
                        })
                    }
                    "checksum" | "open-checksum" => {
                        if let Some(r) = current.as_mut() {
                            let t = attr(e, "type").unwrap_or_default();
                            if name == "checksum" {
                                r.checksum_type = t;
                            } else {
                                r.open_checksum_type = Some(t);
                            }
                        }
                    }
                    "location" => {
                        if let Some(r) = current.as_mut() {
                            r.location_href = attr(e, "href").unwrap_or_default();
                            r.location_base = attr(e, "xml:base");
                        }
                    }
                    _ => {}
                }
                text.clear();
                field = matches!(ev, Event::Start(_)).then_some(name);
            }
            Event::Text(t) => text.push_text(t),
            Event::GeneralRef(r) => text.push_ref(r).map_err(|e| format!("repomd.xml: {e}"))?,
            Event::End(e) => {
                let value = text.take();
                match (current.as_mut(), field.as_deref()) {
                    (Some(r), Some("checksum")) => r.checksum = value,
                    (Some(r), Some("open-checksum")) => r.open_checksum = Some(value),
                    (Some(r), Some("timestamp")) => {
                        r.timestamp = value.parse::<f64>().ok().map(|f| f as i64)
                    }
                    (Some(r), Some("size")) => r.size = value.parse().ok(),
                    (Some(r), Some("open-size")) => r.open_size = value.parse().ok(),
                    (None, Some("revision")) => out.revision = Some(value),
                    _ => {}
                }
                if e.local_name().as_ref() == "data"
                    && let Some(r) = current.take()
                {
                    out.records.push(r);
                }
                field = None;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err("repomd.xml has no <repomd> element".into());
    }
    for r in &out.records {
        if r.data_type.is_empty() || r.location_href.is_empty() || r.checksum.is_empty() {
            return Err(format!(
                "repomd.xml record '{}' lacks a type, location or checksum",
                r.data_type
            ));
        }
    }
    Ok(out)
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// Write repomd.xml for `records`.
pub fn write(revision: &str, records: &[Record]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    s.push_str(&format!("  <revision>{}</revision>\n", esc(revision)));
    for r in records {
        s.push_str(&format!("  <data type=\"{}\">\n", esc(&r.data_type)));
        s.push_str(&format!(
            "    <checksum type=\"{}\">{}</checksum>\n",
            r.checksum_type, r.checksum
        ));
        if let (Some(t), Some(c)) = (&r.open_checksum_type, &r.open_checksum) {
            s.push_str(&format!(
                "    <open-checksum type=\"{t}\">{c}</open-checksum>\n"
            ));
        }
        s.push_str(&format!(
            "    <location href=\"{}\"/>\n",
            esc(&r.location_href)
        ));
        if let Some(t) = r.timestamp {
            s.push_str(&format!("    <timestamp>{t}</timestamp>\n"));
        }
        if let Some(n) = r.size {
            s.push_str(&format!("    <size>{n}</size>\n"));
        }
        if let Some(n) = r.open_size {
            s.push_str(&format!("    <open-size>{n}</open-size>\n"));
        }
        s.push_str("  </data>\n");
    }
    s.push_str("</repomd>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">aaaa</checksum>
    <open-checksum type="sha256">bbbb</open-checksum>
    <location href="repodata/aaaa-primary.xml.gz"/>
    <timestamp>1700000000</timestamp>
    <size>123</size>
    <open-size>456</open-size>
  </data>
  <data type="group">
    <checksum type="sha256">cccc</checksum>
    <location xml:base="http://mirror/x/" href="repodata/comps.xml"/>
    <timestamp>1700000000.5</timestamp>
    <size>7</size>
  </data>
</repomd>"#;

    #[test]
    fn parses_and_writes_records() {
        let r = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(r.revision.as_deref(), Some("1700000000"));
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records[0].data_type, "primary");
        assert_eq!(r.records[0].open_size, Some(456));
        assert_eq!(
            r.records[1].location_base.as_deref(),
            Some("http://mirror/x/")
        );
        assert_eq!(r.records[1].timestamp, Some(1700000000));
        let again = parse(write("1", &r.records[..1]).as_bytes()).unwrap();
        assert_eq!(again.records[0], r.records[0]);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse(b"not xml <<").is_err());
        assert!(parse(b"<html></html>").is_err());
        assert!(parse(b"<repomd><data type=\"primary\"></data></repomd>").is_err());
    }
}
