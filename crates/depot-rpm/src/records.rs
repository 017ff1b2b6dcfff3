//! Streaming reader of metadata documents made of a list of self-contained elements:
//! `updateinfo.xml` (`<update>`s) and comps (`<group>`, `<category>`, `<environment>`,
//! `<langpacks>`). Each element is kept verbatim, with the text and attributes of its direct
//! children for the fields a unit shows.

use std::io::BufRead;

use quick_xml::events::Event;

use crate::xml::{self, Capture, Text};

/// A direct child of an element: (name, text, attributes).
pub type Child = (String, String, Vec<(String, String)>);

/// One element found below the root.
#[derive(Clone, Debug, Default)]
pub struct Element {
    /// The element's name, e.g. `update` or `group`.
    pub kind: String,
    /// Its own attributes.
    pub attrs: Vec<(String, String)>,
    /// Direct children: (name, text, attributes). Children carrying `xml:lang` are left out.
    pub children: Vec<Child>,
    pub fragment: Vec<u8>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Text of the first direct child called `name`.
    pub fn child(&self, name: &str) -> Option<&str> {
        self.children
            .iter()
            .find(|(k, _, _)| k == name)
            .map(|(_, v, _)| v.as_str())
    }

    /// Attribute `attr` of the first direct child called `name`.
    pub fn child_attr(&self, name: &str, attr: &str) -> Option<&str> {
        self.children
            .iter()
            .find(|(k, _, _)| k == name)
            .and_then(|(_, _, a)| a.iter().find(|(k, _)| k == attr))
            .map(|(_, v)| v.as_str())
    }
}

fn attrs_of(e: &quick_xml::events::BytesStart<'_>) -> Vec<(String, String)> {
    e.attributes()
        .flatten()
        .filter_map(|a| {
            let key = a.key.as_ref().to_string();
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()?;
            Some((key, v.into_owned()))
        })
        .collect()
}

/// Read `what` (a name for messages) whose root is `root`, calling `each` for every direct
/// child of the root named in `kinds`; other children are an error unless `lenient`.
pub fn parse<R: BufRead>(
    input: R,
    what: &str,
    root: &str,
    kinds: &[&str],
    mut each: impl FnMut(Element) -> Result<(), String>,
) -> Result<u64, String> {
    let mut reader = xml::reader(input);
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut text = Text::default();
    let mut count = 0;
    let mut seen_root = false;
    let mut cap: Option<Capture> = None;
    let mut el = Element::default();
    let mut depth = 0usize;
    let mut child: Option<(String, Vec<(String, String)>)> = None;
    // depth of an element skipped entirely (unknown kind)
    let mut skip = 0usize;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml::error(what, &reader, e))?;
        if skip > 0 {
            match ev {
                Event::Start(_) => skip += 1,
                Event::End(_) => skip -= 1,
                Event::Eof => return Err(format!("{what} ends inside an element")),
                _ => {}
            }
            buf.clear();
            continue;
        }
        if let Some(c) = cap.as_mut() {
            match &ev {
                Event::Start(e) | Event::Empty(e) => {
                    if depth == 1 {
                        let a = attrs_of(e);
                        let lang = a.iter().any(|(k, _)| k == "xml:lang");
                        text.clear();
                        if !lang {
                            if matches!(ev, Event::Start(_)) {
                                child = Some((e.local_name().as_ref().to_string(), a));
                            } else {
                                el.children.push((
                                    e.local_name().as_ref().to_string(),
                                    String::new(),
                                    a,
                                ));
                            }
                        }
                    }
                    if matches!(ev, Event::Start(_)) {
                        depth += 1;
                    }
                }
                Event::Text(t) => text.push_text(t),
                Event::GeneralRef(r) => text.push_ref(r).map_err(|e| format!("{what}: {e}"))?,
                Event::CData(t) => text.push_str(&t.xml10_content()),
                Event::End(_) => {
                    depth -= 1;
                    if depth == 1
                        && let Some((name, a)) = child.take()
                    {
                        el.children.push((name, text.take(), a));
                    }
                }
                Event::Eof => return Err(format!("{what} ends inside an element")),
                _ => {}
            }
            if c.push(&ev) {
                let mut done = std::mem::take(&mut el);
                done.fragment = cap.take().expect("capturing").finish();
                count += 1;
                each(done)?;
                depth = 0;
            }
        } else {
            match &ev {
                Event::Start(e) | Event::Empty(e) => {
                    let name = e.local_name();
                    let name = name.as_ref();
                    let start = matches!(ev, Event::Start(_));
                    if !seen_root {
                        if name != root {
                            return Err(format!("{what} has no <{root}> element"));
                        }
                        seen_root = true;
                    } else if kinds.contains(&name) {
                        el = Element {
                            kind: name.to_string(),
                            attrs: attrs_of(e),
                            ..Default::default()
                        };
                        if start {
                            cap = Some(Capture::new(e, 4096));
                            depth = 1;
                        } else {
                            el.fragment = format!("<{name}/>").into_bytes();
                            count += 1;
                            each(std::mem::take(&mut el))?;
                        }
                    } else if start {
                        skip = 1;
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

/// The `id` of a comps element or advisory, required.
pub fn id_of(el: &Element, what: &str) -> Result<String, String> {
    el.child("id")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("{what}: a <{}> has no <id>", el.kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updateinfo_elements() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="security@example.invalid" status="final" type="security" version="2">
    <id>RLSA-2024:0001</id>
    <title>Important: foo &amp; bar</title>
    <issued date="2024-01-02 00:00:00"/>
    <severity>Important</severity>
    <pkglist><collection short="x"><name>x</name>
      <package name="foo" version="1.0" release="1" epoch="0" arch="x86_64"><filename>foo.rpm</filename></package>
    </collection></pkglist>
  </update>
  <update type="bugfix"><id>B-1</id><title xml:lang="de">De</title><title>En</title></update>
</updates>"#;
        let mut got = Vec::new();
        let n = parse(
            xml.as_bytes(),
            "updateinfo.xml",
            "updates",
            &["update"],
            |e| {
                got.push(e);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(id_of(&got[0], "u").unwrap(), "RLSA-2024:0001");
        assert_eq!(got[0].attr("type"), Some("security"));
        assert_eq!(got[0].child("title"), Some("Important: foo & bar"));
        assert_eq!(
            got[0].child_attr("issued", "date"),
            Some("2024-01-02 00:00:00")
        );
        assert_eq!(got[0].child("severity"), Some("Important"));
        let f = String::from_utf8(got[0].fragment.clone()).unwrap();
        assert!(f.starts_with("<update from="), "{f}");
        assert!(f.contains("<filename>foo.rpm</filename>"), "{f}");
        assert_eq!(got[1].child("title"), Some("En"));
    }

    #[test]
    fn comps_elements_and_errors() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE comps PUBLIC "-//x//y" "comps.dtd">
<comps><group><id>core</id><name>Core</name><packagelist><packagereq>foo</packagereq></packagelist></group>
<category><id>c</id><grouplist><groupid>core</groupid></grouplist></category>
<langpacks><match install="foo-%s" name="foo"/></langpacks><unknown><x/></unknown></comps>"#;
        let mut kinds = Vec::new();
        parse(
            xml.as_bytes(),
            "comps.xml",
            "comps",
            &["group", "category", "environment", "langpacks"],
            |e| {
                kinds.push(e.kind);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(kinds, ["group", "category", "langpacks"]);
        assert!(
            parse(
                &b"<comps><group><id>x</id>"[..],
                "comps.xml",
                "comps",
                &["group"],
                |_| Ok(())
            )
            .is_err()
        );
        assert!(
            parse(&b"<other/>"[..], "comps.xml", "comps", &["group"], |_| Ok(
                ()
            ))
            .is_err()
        );
    }
}
