//! `PULP_MANIFEST`: one `relative_path,sha256,size` line per file.
//!
//! Parsing follows Pulp (blank lines and `#` comments skipped, the last two commas split the
//! fields so paths may contain commas) and adds depot's path safety rules: a path that could
//! escape the repository (`..`, `.`, absolute, backslash, control characters) is an error
//! naming the line.

use std::fmt;

/// One manifest entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub relative_path: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Error: Parsing of the manifest file failed on line:{}.\n{}\nPlease make sure the \
             remote URL is pointing to a valid manifest file.\nThe manifest file should be \
             composed of lines in the following format: <relative_path>,<digest>,<size>.",
            self.line, self.reason
        )
    }
}

/// Parse one line (1-based number `n`). `Ok(None)` for blank lines and comments.
pub fn parse_line(n: usize, raw: &str) -> Result<Option<Entry>, ParseError> {
    let err = |reason: String| ParseError { line: n, reason };
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut parts = line.rsplitn(3, ',');
    let (size, digest, path) = match (parts.next(), parts.next(), parts.next()) {
        (Some(s), Some(d), Some(p)) => (s.trim(), d.trim(), p.trim()),
        _ => {
            return Err(err(format!(
                "'{}' does not have three comma-separated fields.",
                truncate(line)
            )));
        }
    };
    if let Err(why) = check_relative_path(path) {
        return Err(err(format!(
            "The relative path '{}' {why}.",
            truncate(path)
        )));
    }
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err(format!(
            "'{}' is not a sha256 digest (64 hexadecimal characters).",
            truncate(digest)
        )));
    }
    let size: u64 = size
        .parse()
        .ok()
        .filter(|_| size.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| err(format!("'{}' is not a size in bytes.", truncate(size))))?;
    Ok(Some(Entry {
        relative_path: path.to_string(),
        sha256: digest.to_ascii_lowercase(),
        size,
    }))
}

/// Why a relative path is not acceptable, if it is not.
pub fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.starts_with('/') {
        return Err("is absolute");
    }
    if path.ends_with('/') {
        return Err("ends with '/'");
    }
    if path.contains('\\') {
        return Err("contains a backslash");
    }
    if path.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    for seg in path.split('/') {
        match seg {
            "" => return Err("has an empty segment"),
            "." | ".." => return Err("has a '.' or '..' segment"),
            _ => {}
        }
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn parses_entries_comments_and_commas_in_paths() {
        assert_eq!(parse_line(1, "  ").unwrap(), None);
        assert_eq!(parse_line(2, "# comment").unwrap(), None);
        let e = parse_line(3, &format!("dir/a,b.txt,{SHA},5"))
            .unwrap()
            .unwrap();
        assert_eq!(e.relative_path, "dir/a,b.txt");
        assert_eq!(e.size, 5);
        let e = parse_line(4, &format!("x.iso , {} , 7 ", SHA.to_uppercase()))
            .unwrap()
            .unwrap();
        assert_eq!(e.sha256, SHA);
    }

    #[test]
    fn rejects_malformed_lines_with_the_line_number() {
        let e = parse_line(7, "just-a-path").unwrap_err();
        assert_eq!(e.line, 7);
        assert!(e.to_string().contains("failed on line:7"), "{e}");
        assert!(parse_line(1, &format!("a,{SHA},-1")).is_err());
        assert!(parse_line(1, &format!("a,{SHA},1.5")).is_err());
        assert!(parse_line(1, "a,abc,1").is_err());
    }

    #[test]
    fn rejects_paths_that_escape() {
        for p in [
            "../etc/passwd",
            "a/../../b",
            "/abs",
            "a\\b",
            "a//b",
            "./a",
            "a/",
            "a\u{0}b",
        ] {
            let line = format!("{p},{SHA},1");
            let e = parse_line(1, &line).unwrap_err();
            assert!(e.reason.contains("relative path"), "{p}: {e}");
        }
    }
}
