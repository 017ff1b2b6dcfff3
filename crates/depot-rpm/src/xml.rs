//! Small helpers over quick-xml's streaming reader: attribute values, element text (which the
//! reader hands out in pieces around entity references) and capturing an element's events
//! back into bytes, verbatim, to keep as a metadata fragment.

use std::io::BufRead;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesRef, BytesStart, BytesText, Event};
use quick_xml::reader::Reader;
use quick_xml::writer::Writer;

/// The value of attribute `name` (qualified, e.g. `xml:base`), unescaped.
pub fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// Text of the element being read, assembled from text pieces and entity references.
#[derive(Default)]
pub struct Text {
    buf: String,
}

impl Text {
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    pub fn push_text(&mut self, t: &BytesText<'_>) {
        self.buf.push_str(&t.xml10_content());
    }

    /// A `&name;` or `&#n;` reference; unknown entities are an error.
    pub fn push_ref(&mut self, r: &BytesRef<'_>) -> Result<(), String> {
        if let Ok(Some(c)) = r.resolve_char_ref() {
            self.buf.push(c);
            return Ok(());
        }
        let name = r.xml10_content();
        match quick_xml::escape::resolve_predefined_entity(&name) {
            Some(s) => {
                self.buf.push_str(s);
                Ok(())
            }
            None => Err(format!("unknown entity '&{name};'")),
        }
    }

    pub fn push_str(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    pub fn get(&self) -> &str {
        self.buf.trim()
    }

    pub fn take(&mut self) -> String {
        let s = self.buf.trim().to_string();
        self.buf.clear();
        s
    }
}

/// A reader over decompressed metadata with the settings every parser here wants.
pub fn reader<R: BufRead>(r: R) -> Reader<R> {
    let mut reader = Reader::from_reader(r);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;
    reader
}

/// Collects the events of one element (the one whose start was given) into bytes.
pub struct Capture {
    writer: Writer<Vec<u8>>,
    depth: usize,
}

impl Capture {
    pub fn new(start: &BytesStart<'_>, capacity: usize) -> Capture {
        let mut writer = Writer::new(Vec::with_capacity(capacity));
        writer
            .write_event(Event::Start(start.borrow()))
            .expect("writing to memory");
        Capture { writer, depth: 1 }
    }

    /// Record an event; returns true when the captured element has ended.
    pub fn push(&mut self, ev: &Event<'_>) -> bool {
        match ev {
            Event::Start(_) => self.depth += 1,
            Event::End(_) => self.depth -= 1,
            _ => {}
        }
        self.writer
            .write_event(ev.borrow())
            .expect("writing to memory");
        self.depth == 0
    }

    /// Bytes captured so far.
    pub fn len(&self) -> usize {
        self.writer.get_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn finish(self) -> Vec<u8> {
        self.writer.into_inner()
    }
}

/// A parse error with the position in the document. Read errors come from decompression:
/// the file is truncated or corrupt.
pub fn error<R>(what: &str, reader: &Reader<R>, e: quick_xml::Error) -> String {
    match e {
        quick_xml::Error::Io(io) => format!(
            "{what} could not be decompressed (the file is truncated or corrupt) after {} bytes: {io}",
            reader.buffer_position()
        ),
        e => format!(
            "{what} is not valid XML (at byte {}): {e}",
            reader.buffer_position()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_joins_pieces_and_entities() {
        let mut r = reader(&b"<a>x &amp; y &#65;&lt;</a>"[..]);
        let mut t = Text::default();
        let mut buf = Vec::new();
        loop {
            match r.read_event_into(&mut buf).unwrap() {
                Event::Text(x) => t.push_text(&x),
                Event::GeneralRef(x) => t.push_ref(&x).unwrap(),
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        assert_eq!(t.get(), "x & y A<");
    }

    #[test]
    fn capture_reproduces_the_element() {
        let src = "<r><p a=\"1&amp;2\">\n  <q>t &amp; u</q><e/>\n</p><z/></r>";
        let mut r = reader(src.as_bytes());
        let mut buf = Vec::new();
        let mut cap: Option<Capture> = None;
        let mut out = None;
        loop {
            let ev = r.read_event_into(&mut buf).unwrap();
            if let Some(c) = cap.as_mut() {
                if c.push(&ev) {
                    out = Some(cap.take().unwrap().finish());
                }
            } else if let Event::Start(s) = &ev
                && s.local_name().as_ref() == "p"
            {
                cap = Some(Capture::new(s, 64));
            }
            if matches!(ev, Event::Eof) {
                break;
            }
            buf.clear();
        }
        assert_eq!(
            String::from_utf8(out.unwrap()).unwrap(),
            "<p a=\"1&amp;2\">\n  <q>t &amp; u</q><e/>\n</p>"
        );
    }
}
