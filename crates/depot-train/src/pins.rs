//! Pin files: `stackhpc_pulp_repo_<short_name>_version: <version>` lines, the
//! shape client sites keep in `pulp-repo-versions.yml`. Versions are
//! `YYYYMMDDTHHMMSS` strings.

const PREFIX: &str = "stackhpc_pulp_repo_";
const SUFFIX: &str = "_version";

/// The variable that pins `short_name`: `stackhpc_pulp_repo_<short_name>_version`.
pub fn key(short_name: &str) -> String {
    format!("{PREFIX}{short_name}{SUFFIX}")
}

/// Whether `v` has the shape of a version, `YYYYMMDDTHHMMSS`.
pub fn is_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 15
        && b[8] == b'T'
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[9..].iter().all(u8::is_ascii_digit)
}

/// Parses a pin file into `(short_name, version)` pairs, in file order.
///
/// Accepted: blank lines, comment lines, `---` and `...`, trailing ` # ...`
/// comments, and single- or double-quoted values. Anything else, a short name
/// pinned twice, or a version not shaped `YYYYMMDDTHHMMSS` is an error naming
/// `origin` and the line number.
pub fn parse(text: &str, origin: &str) -> Result<Vec<(String, String)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut pins: Vec<(String, String)> = Vec::new();
    let mut lines_of: std::collections::HashMap<String, usize> = Default::default();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line == "---" || line == "..." {
            continue;
        }
        match parse_line(raw) {
            Ok((short_name, version)) => {
                if let Some(first) = lines_of.get(&short_name) {
                    errors.push(format!(
                        "{origin}:{n}: {short_name} is pinned twice (first on line {first})"
                    ));
                } else {
                    lines_of.insert(short_name.clone(), n);
                    pins.push((short_name, version));
                }
            }
            Err(e) => errors.push(format!("{origin}:{n}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(pins)
    } else {
        Err(errors.join("\n"))
    }
}

fn parse_line(raw: &str) -> Result<(String, String), String> {
    let expected = || {
        format!(
            "expected `{PREFIX}<short_name>{SUFFIX}: <YYYYMMDDTHHMMSS>`, got {:?}",
            raw.trim()
        )
    };
    if raw.starts_with(char::is_whitespace) {
        // Indented: part of a nested mapping, not a top-level pin.
        return Err(expected());
    }
    let (k, rest) = raw.split_once(':').ok_or_else(expected)?;
    let short_name = k
        .trim_end()
        .strip_prefix(PREFIX)
        .and_then(|s| s.strip_suffix(SUFFIX))
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .ok_or_else(expected)?;
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return Err(expected());
    }
    let rest = rest.trim();
    let (value, after) = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let end = rest[1..].find(q).ok_or_else(expected)? + 1;
            (&rest[1..end], &rest[end + 1..])
        }
        _ => match rest.find(" #").or_else(|| rest.find("\t#")) {
            Some(c) => (rest[..c].trim_end(), ""),
            None => (rest, ""),
        },
    };
    let after = after.trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return Err(expected());
    }
    if value.is_empty() {
        return Err(format!("{}: no version", key(short_name)));
    }
    if !is_version(value) {
        return Err(format!(
            "{}: version {value:?} is not shaped YYYYMMDDTHHMMSS",
            key(short_name)
        ));
    }
    Ok((short_name.to_string(), value.to_string()))
}

/// Renders pins as a pin file: `---` and one `key: version` line per pin,
/// sorted by variable name (the order of the files the release train
/// generates, so that a rewrite shows only real changes). Note that sorting by
/// variable name differs from sorting by short name when one short name is a
/// prefix of another: `..._docker_aarch64_version` sorts before
/// `..._docker_version`.
pub fn render(pins: &[(String, String)]) -> String {
    let mut lines: Vec<(String, &str)> = pins
        .iter()
        .map(|(short_name, version)| (key(short_name), version.as_str()))
        .collect();
    lines.sort();
    let mut out = String::from("---\n");
    for (key, version) in lines {
        out.push_str(&format!("{key}: {version}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// A pin file in the shape sites keep, with short names from the release
    /// train's inventory.
    const REAL_SHAPE: &str = "---
# This file is autogenerated by Ansible using the following workflow:
# https://example.invalid/release-train/actions/workflows/package-update-kayobe.yml
stackhpc_pulp_repo_centos_stream_10_docker_aarch64_version: 20260702T230648
stackhpc_pulp_repo_centos_stream_10_docker_version: 20260702T204052
stackhpc_pulp_repo_docker_ce_ubuntu_noble_version: 20260704T203807
stackhpc_pulp_repo_epel_10_aarch64_version: 20260705T225747
stackhpc_pulp_repo_epel_10_version: 20260705T213055
stackhpc_pulp_repo_grafana_version: 20260701T070549
stackhpc_pulp_repo_rocky_9_8_baseos_version: 20260716T222336
stackhpc_pulp_repo_ubuntu_cloud_archive_version: 20260705T230107
stackhpc_pulp_repo_ubuntu_noble_security_version: 20260706T010259
stackhpc_pulp_repo_ubuntu_noble_version: 20260706T010259
";

    #[test]
    fn key_shape() {
        assert_eq!(key("docker"), "stackhpc_pulp_repo_docker_version");
        assert_eq!(
            key("rocky_9_8_baseos"),
            "stackhpc_pulp_repo_rocky_9_8_baseos_version"
        );
    }

    #[test]
    fn parses_real_shape_in_file_order() {
        let p = parse(REAL_SHAPE, "pulp-repo-versions.yml").unwrap();
        assert_eq!(p.len(), 10);
        assert_eq!(
            p[0],
            (
                "centos_stream_10_docker_aarch64".to_string(),
                "20260702T230648".to_string()
            )
        );
        assert_eq!(
            p[1],
            (
                "centos_stream_10_docker".to_string(),
                "20260702T204052".to_string()
            )
        );
        assert_eq!(p[9].0, "ubuntu_noble");
    }

    #[test]
    fn render_reproduces_generated_file() {
        let p = parse(REAL_SHAPE, "x").unwrap();
        let body: String = REAL_SHAPE
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(render(&p), body);
        // Also from a shuffled input.
        let mut rev = p.clone();
        rev.reverse();
        assert_eq!(render(&rev), body);
    }

    #[test]
    fn round_trip() {
        let x = pins(&[
            ("ubuntu_noble", "20260706T010259"),
            ("grafana", "20260701T070549"),
            ("epel_10", "20260705T213055"),
            ("ubuntu_jammy", "20250101T000000"),
        ]);
        let text = render(&x);
        assert!(text.starts_with("---\n"));
        let mut sorted = x.clone();
        sorted.sort();
        assert_eq!(parse(&text, "rendered").unwrap(), sorted);
    }

    #[test]
    fn suffix_inside_short_name() {
        // The short name may itself end in `_version`.
        let p = parse(
            "stackhpc_pulp_repo_foo_version_version: 20240101T000000\n",
            "x",
        )
        .unwrap();
        assert_eq!(p, pins(&[("foo_version", "20240101T000000")]));
        assert_eq!(parse(&render(&p), "x").unwrap(), p);
    }

    #[test]
    fn quoted_values_comments_and_markers() {
        let text = "\u{feff}---\n\n# comment\n  # indented comment\n\
            stackhpc_pulp_repo_a_version: \"20240101T000000\"\n\
            stackhpc_pulp_repo_b_version: '20240102T000000'  # pinned for a bug\n\
            stackhpc_pulp_repo_c_version:   20240103T000000 # why\r\n\
            stackhpc_pulp_repo_d_version :\t20240104T000000\n...\n";
        assert_eq!(
            parse(text, "x").unwrap(),
            pins(&[
                ("a", "20240101T000000"),
                ("b", "20240102T000000"),
                ("c", "20240103T000000"),
                ("d", "20240104T000000"),
            ])
        );
        assert_eq!(parse("", "x").unwrap(), vec![]);
        assert_eq!(parse("---\n", "x").unwrap(), vec![]);
    }

    #[test]
    fn errors_name_origin_and_line() {
        let bad = [
            (
                "some_other_var: 1\n",
                "pins.yml:1: expected `stackhpc_pulp_repo_<short_name>_version: <YYYYMMDDTHHMMSS>`, got \"some_other_var: 1\"",
            ),
            (
                "---\nstackhpc_pulp_repo_docker: 20240101T000000\n",
                "pins.yml:2: expected",
            ),
            (
                "stackhpc_pulp_repo__version: 20240101T000000\n",
                "pins.yml:1: expected",
            ),
            (
                "stackhpc_pulp_repo_do-cker_version: 20240101T000000\n",
                "pins.yml:1: expected",
            ),
            (
                "stackhpc_pulp_repo_docker_version:20240101T000000\n",
                "pins.yml:1: expected",
            ),
            (
                "  stackhpc_pulp_repo_docker_version: 20240101T000000\n",
                "pins.yml:1: expected",
            ),
            (
                "stackhpc_pulp_repo_docker_version: \"20240101T000000\n",
                "pins.yml:1: expected",
            ),
            (
                "stackhpc_pulp_repo_docker_version: '20240101T000000' x\n",
                "pins.yml:1: expected",
            ),
            (
                "stackhpc_pulp_repo_docker_version:\n",
                "pins.yml:1: stackhpc_pulp_repo_docker_version: no version",
            ),
            (
                "stackhpc_pulp_repo_docker_version: 2024-01-01\n",
                "pins.yml:1: stackhpc_pulp_repo_docker_version: version \"2024-01-01\" is not shaped YYYYMMDDTHHMMSS",
            ),
            (
                "stackhpc_pulp_repo_docker_version: {{ x }}\n",
                "pins.yml:1: stackhpc_pulp_repo_docker_version: version \"{{ x }}\" is not shaped",
            ),
            ("just text\n", "pins.yml:1: expected"),
        ];
        for (text, want) in bad {
            let err = parse(text, "pins.yml").unwrap_err();
            assert!(
                err.starts_with(want),
                "{text:?}: got {err:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn duplicates_and_all_errors_reported() {
        let text = "stackhpc_pulp_repo_grafana_version: 20240101T000000\n\
            bogus\n\
            stackhpc_pulp_repo_grafana_version: 20240202T000000\n";
        let err = parse(text, "p.yml").unwrap_err();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(lines[0].starts_with("p.yml:2: expected"));
        assert_eq!(
            lines[1],
            "p.yml:3: grafana is pinned twice (first on line 1)"
        );
    }

    #[test]
    fn version_shape() {
        assert!(is_version("20240101T000000"));
        assert!(!is_version("20240101T00000"));
        assert!(!is_version("20240101t000000"));
        assert!(!is_version("2024010100000000"));
        assert!(!is_version("2024010XT000000"));
    }
}
