//! `modules.yaml`: a stream of YAML documents (`modulemd`, `modulemd-defaults`,
//! `modulemd-obsoletes`), each kept verbatim. Only the identifying scalars directly below
//! `data:` are read (name, stream, version, context, arch, module), so a document is
//! looked at line by line and never interpreted beyond them.

use std::io::BufRead;

/// One YAML document of modules.yaml.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    /// `modulemd`, `modulemd-defaults` or `modulemd-obsoletes`.
    pub document: String,
    /// Scalars directly below `data:`: (key, value).
    pub fields: Vec<(String, String)>,
    /// Package NEVRAs listed under `data.artifacts.rpms` (module streams only).
    pub rpms: Vec<String>,
    /// The document as it appeared, starting with `---` and ending with `...`.
    pub text: String,
}

impl Document {
    pub fn field(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

fn scalar(v: &str) -> String {
    let v = v.trim();
    let v = v.split(" #").next().unwrap_or(v).trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Read modules.yaml, calling `each` for every document.
pub fn parse<R: BufRead>(
    mut input: R,
    mut each: impl FnMut(Document) -> Result<(), String>,
) -> Result<u64, String> {
    let mut line = String::new();
    let mut doc = Document::default();
    let mut in_doc = false;
    let mut section: Vec<(usize, String)> = Vec::new(); // open mapping keys with indents
    let mut count = 0;
    let mut n = 0usize;
    loop {
        line.clear();
        let read = input
            .read_line(&mut line)
            .map_err(|e| format!("modules.yaml: {e}"))?;
        n += 1;
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let end_of_doc = read == 0 || trimmed == "..." || (trimmed == "---" && in_doc);
        if end_of_doc && in_doc && !doc.document.is_empty() {
            doc.text.push_str("...\n");
            count += 1;
            each(std::mem::take(&mut doc))?;
            in_doc = false;
            section.clear();
        } else if end_of_doc && in_doc {
            return Err(format!(
                "modules.yaml: the document ending at line {n} has no 'document:' key"
            ));
        }
        if read == 0 {
            break;
        }
        if trimmed == "..." {
            continue;
        }
        if trimmed == "---" || trimmed.starts_with("--- ") {
            in_doc = true;
            doc = Document {
                text: "---\n".into(),
                ..Default::default()
            };
            section.clear();
            continue;
        }
        if trimmed.trim().is_empty() || trimmed.trim_start().starts_with('#') {
            if in_doc {
                doc.text.push_str(trimmed);
                doc.text.push('\n');
            }
            continue;
        }
        if !in_doc {
            // a document without a leading '---'
            in_doc = true;
            doc = Document {
                text: "---\n".into(),
                ..Default::default()
            };
        }
        doc.text.push_str(trimmed);
        doc.text.push('\n');
        let ind = indent(trimmed);
        let body = trimmed.trim_start();
        // list items may sit at their key's indentation
        let item = body.starts_with("- ");
        while section
            .last()
            .is_some_and(|(i, _)| *i > ind || (*i == ind && !item))
        {
            section.pop();
        }
        let path: Vec<&str> = section.iter().map(|(_, k)| k.as_str()).collect();
        if let Some(item) = body.strip_prefix("- ") {
            if path == ["data", "artifacts", "rpms"] {
                doc.rpms.push(scalar(item));
            }
            continue;
        }
        let Some((key, value)) = body.split_once(':') else {
            continue;
        };
        let key = key.trim().to_string();
        let value = value.trim();
        match path.as_slice() {
            [] if key == "document" => doc.document = scalar(value),
            ["data"] if !value.is_empty() && !value.starts_with('>') && !value.starts_with('|') => {
                doc.fields.push((key.clone(), scalar(value)))
            }
            _ => {}
        }
        if value.is_empty() {
            section.push((ind, key));
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"---
document: modulemd
version: 2
data:
  name: nodejs
  stream: "18"
  version: 9010020221009
  context: rhel9
  arch: x86_64
  summary: Javascript runtime
  description: >-
    Node.js is a platform.
  license:
    module:
    - MIT
  artifacts:
    rpms:
    - nodejs-1:18.10.0-1.module+el9.x86_64
    - npm-1:8.19.2-1.18.10.0.1.module+el9.x86_64
...
---
document: modulemd-defaults
version: 1
data:
  module: nodejs
  stream: '18'
  profiles:
    18: [common]
...
"#;

    #[test]
    fn documents_and_fields() {
        let mut docs = Vec::new();
        let n = parse(YAML.as_bytes(), |d| {
            docs.push(d);
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 2);
        let m = &docs[0];
        assert_eq!(m.document, "modulemd");
        assert_eq!(m.field("name"), "nodejs");
        assert_eq!(m.field("stream"), "18");
        assert_eq!(m.field("version"), "9010020221009");
        assert_eq!(m.field("context"), "rhel9");
        assert_eq!(m.rpms.len(), 2);
        assert!(m.text.starts_with("---\ndocument: modulemd\n"));
        assert!(
            m.text
                .ends_with("    - npm-1:8.19.2-1.18.10.0.1.module+el9.x86_64\n...\n")
        );
        assert_eq!(docs[1].document, "modulemd-defaults");
        assert_eq!(docs[1].field("module"), "nodejs");
        assert_eq!(docs[1].field("stream"), "18");
        let again: String = docs.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(again, YAML);
    }

    #[test]
    fn document_without_kind_is_refused() {
        assert!(parse(&b"---\ndata:\n  name: x\n...\n"[..], |_| Ok(())).is_err());
    }
}
