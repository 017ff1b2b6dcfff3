//! Field descriptions: one declaration per API field drives request validation, response
//! rendering and the OpenAPI schema, so the three cannot disagree.
//!
//! Error messages are the ones Django REST framework gives, because Pulp's users (and tools)
//! have seen them for years.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// What values a field takes.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Str,
    /// A relative path in canonical form (no leading or trailing '/', no '.', '..' or empty
    /// segments, no whitespace, '?' or '#').
    RelPath,
    /// A string that must be a URL (http, https, file).
    Url,
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Num {
        min: Option<f64>,
    },
    Bool,
    Choice(&'static [&'static str]),
    /// `{"key": "value"}` with string values.
    Labels,
    /// Any JSON value (described as `type: object` or the given OpenAPI type).
    Json(&'static str),
    /// A list of strings.
    StrList,
    /// An href of the given resource family ("remotes", "repositories", ...).
    Href(&'static str),
    /// A list of hrefs of the given resource family.
    HrefList(&'static str),
    DateTime,
    /// An uploaded file (multipart); only in upload bodies.
    File,
}

/// Default applied on create when the field is absent.
#[derive(Clone, Copy, Debug)]
pub enum Default {
    None,
    Null,
    Bool(bool),
    Int(i64),
    Str(&'static str),
    EmptyObject,
    EmptyList,
}

impl Default {
    pub fn value(&self) -> Option<Value> {
        match self {
            Default::None => None,
            Default::Null => Some(Value::Null),
            Default::Bool(b) => Some(Value::Bool(*b)),
            Default::Int(i) => Some(Value::from(*i)),
            Default::Str(s) => Some(Value::from(*s)),
            Default::EmptyObject => Some(Value::Object(Map::new())),
            Default::EmptyList => Some(Value::Array(Vec::new())),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    /// Must be given on create.
    pub required: bool,
    pub read_only: bool,
    pub write_only: bool,
    pub default: Default,
    pub help: &'static str,
}

impl Field {
    /// A writable, optional, non-null field.
    pub const fn new(name: &'static str, kind: Kind) -> Field {
        Field {
            name,
            kind,
            nullable: false,
            required: false,
            read_only: false,
            write_only: false,
            default: Default::None,
            help: "",
        }
    }
    pub const fn required(mut self) -> Field {
        self.required = true;
        self
    }
    pub const fn nullable(mut self) -> Field {
        self.nullable = true;
        self
    }
    pub const fn read_only(mut self) -> Field {
        self.read_only = true;
        self
    }
    pub const fn write_only(mut self) -> Field {
        self.write_only = true;
        self
    }
    pub const fn default(mut self, d: Default) -> Field {
        self.default = d;
        self
    }
    pub const fn help(mut self, help: &'static str) -> Field {
        self.help = help;
        self
    }
}

/// Errors keyed by field, rendered as Pulp's `{"field": ["message", ...]}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, msg: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(msg.into());
    }
    pub fn one(field: &str, msg: impl Into<String>) -> FieldErrors {
        let mut e = FieldErrors::default();
        e.add(field, msg);
        e
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.0 {
            m.insert(k.clone(), Value::from(v.clone()));
        }
        Value::Object(m)
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.join(" ")))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

/// Validate and normalise a request body against `fields`.
///
/// The body is JSON-shaped whatever the request's encoding (the HTTP layer turns forms into
/// JSON by the operation's schema); values are read as leniently as Django REST framework
/// reads them (`"5"` for an integer, `"true"` for a boolean).
///
/// Unknown fields, read-only fields given a value, wrong types, missing required fields (on
/// create) and nulls where not allowed are errors. On create (`partial == false`) defaults are
/// filled in. The result only holds writable fields.
pub fn validate(
    fields: &[&Field],
    body: &Map<String, Value>,
    partial: bool,
) -> Result<Map<String, Value>, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut out = Map::new();
    for (key, _) in body {
        match fields.iter().find(|f| f.name == key) {
            None => errors.add(key, "Unexpected field"),
            Some(f) if f.read_only => errors.add(key, "This field is read only."),
            Some(_) => {}
        }
    }
    for f in fields.iter().filter(|f| !f.read_only) {
        match body.get(f.name) {
            Some(v) => match coerce(f, v) {
                Ok(v) => {
                    out.insert(f.name.to_string(), v);
                }
                Err(msg) => errors.add(f.name, msg),
            },
            None if !partial => {
                if f.required {
                    errors.add(f.name, "This field is required.");
                } else if let Some(d) = f.default.value() {
                    out.insert(f.name.to_string(), d);
                }
            }
            None => {}
        }
    }
    errors.into_result().map(|_| out)
}

fn coerce(f: &Field, v: &Value) -> Result<Value, String> {
    // links given as "" mean null, in JSON too (DRF's related fields)
    let empty_link = matches!(f.kind, Kind::Href(_)) && v.as_str() == Some("");
    if v.is_null() || empty_link {
        return if f.nullable {
            Ok(Value::Null)
        } else {
            Err("This field may not be null.".into())
        };
    }
    let text = v.as_str();
    match f.kind {
        Kind::Str | Kind::DateTime => match v {
            Value::String(s) if s.is_empty() && f.required => {
                Err("This field may not be blank.".into())
            }
            Value::String(s) => Ok(Value::from(s.as_str())),
            Value::Number(n) => Ok(Value::from(n.to_string())),
            _ => Err("Not a valid string.".into()),
        },
        Kind::RelPath => match text {
            Some(s) if canonical_path(s) => Ok(Value::from(s)),
            Some(s) => Err(format!("Relative path is not in canonical form. {s}")),
            None => Err("Not a valid string.".into()),
        },
        Kind::Url => match text {
            Some("") => Err("This field may not be blank.".into()),
            Some(s) if looks_like_url(s) => Ok(Value::from(s)),
            Some(_) => Err("Enter a valid URL.".into()),
            None => Err("Not a valid string.".into()),
        },
        Kind::Int { min, max } => {
            let i = match v {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64)),
                Value::String(s) => parse_int(s),
                _ => None,
            }
            .ok_or_else(|| "A valid integer is required.".to_string())?;
            if let Some(m) = min
                && i < m
            {
                return Err(format!(
                    "Ensure this value is greater than or equal to {m}."
                ));
            }
            if let Some(m) = max
                && i > m
            {
                return Err(format!("Ensure this value is less than or equal to {m}."));
            }
            Ok(Value::from(i))
        }
        Kind::Num { min } => {
            let x = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
                _ => None,
            }
            .ok_or_else(|| "A valid number is required.".to_string())?;
            if let Some(m) = min
                && x < m
            {
                return Err(format!(
                    "Ensure this value is greater than or equal to {m}."
                ));
            }
            Ok(Value::from(x))
        }
        Kind::Bool => match v {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Number(n) if n.as_f64() == Some(1.0) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_f64() == Some(0.0) => Ok(Value::Bool(false)),
            Value::String(s) => parse_bool(s)
                .map(Value::Bool)
                .ok_or_else(|| "Must be a valid boolean.".into()),
            _ => Err("Must be a valid boolean.".into()),
        },
        Kind::Choice(choices) => match text {
            Some(s) if choices.contains(&s) => Ok(Value::from(s)),
            Some(s) => Err(format!("\"{s}\" is not a valid choice.")),
            None => Err(format!("\"{v}\" is not a valid choice.")),
        },
        Kind::Labels => match v {
            Value::Object(m) if m.values().all(Value::is_string) => {
                for k in m.keys() {
                    if k.is_empty()
                        || !k
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_-./ ".contains(c))
                    {
                        return Err(format!("Key '{k}' contains non-alphanumerics."));
                    }
                }
                Ok(v.clone())
            }
            Value::Object(_) => Err("Expected a dictionary of string values.".into()),
            other => Err(format!(
                "Expected a dictionary of items but got type \"{}\".",
                json_type(other)
            )),
        },
        Kind::Json(_) => Ok(v.clone()),
        Kind::StrList => match v {
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(v.clone()),
            Value::Array(_) => Err("Expected a list of strings.".into()),
            other => Err(format!(
                "Expected a list of items but got type \"{}\".",
                json_type(other)
            )),
        },
        Kind::Href(_) => match text {
            Some(s) if s.starts_with('/') || s.starts_with("prn:") || s.contains("://") => {
                Ok(Value::from(s))
            }
            Some(_) => Err("Invalid hyperlink - No URL match.".into()),
            None => Err(format!(
                "Incorrect type. Expected URL string, received {}.",
                json_type(v)
            )),
        },
        Kind::HrefList(_) => match v {
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(v.clone()),
            Value::Array(_) => Err("Expected a list of items.".into()),
            other => Err(format!(
                "Expected a list of items but got type \"{}\".",
                json_type(other)
            )),
        },
        Kind::File => Ok(v.clone()),
    }
}

/// Python's name of a JSON value's type, as DRF's messages use it.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "str",
        Value::Object(_) => "dict",
        Value::Array(_) => "list",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Null => "NoneType",
    }
}

/// Django REST framework's boolean spellings (`t`, `yes`, `on`, `1`, ... any case).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "y" | "yes" | "true" | "on" | "1" => Some(true),
        "f" | "n" | "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// `5`, ` 5 `, `5.0`, as DRF's IntegerField reads text.
pub fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let t = match t.split_once('.') {
        Some((int, frac)) if frac.chars().all(|c| c == '0') => int,
        Some(_) => return None,
        None => t,
    };
    t.parse().ok()
}

/// Pulp's canonical relative path rule (relative paths of content, distribution base paths).
pub fn canonical_path(p: &str) -> bool {
    let wrapped = format!("/{p}/");
    !p.is_empty()
        && !wrapped
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#' || c == '\\')
        && !wrapped.contains("//")
        && !wrapped.contains("/./")
        && !wrapped.contains("/../")
}

fn looks_like_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    matches!(
        scheme.to_ascii_lowercase().as_str(),
        "http" | "https" | "file"
    ) && (scheme.eq_ignore_ascii_case("file") || !rest.is_empty())
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAME: Field = Field::new("name", Kind::Str).required();
    const CONC: Field = Field::new(
        "download_concurrency",
        Kind::Int {
            min: Some(1),
            max: None,
        },
    )
    .nullable()
    .default(Default::Null);
    const POLICY: Field = Field::new("policy", Kind::Choice(&["immediate", "on_demand"]))
        .default(Default::Str("immediate"));
    const HREF: Field = Field::new("pulp_href", Kind::Str).read_only();

    fn fields() -> Vec<&'static Field> {
        vec![&NAME, &CONC, &POLICY, &HREF]
    }

    #[test]
    fn create_fills_defaults_and_requires_fields() {
        let out = validate(&fields(), json!({"name": "a"}).as_object().unwrap(), false).unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"name": "a", "download_concurrency": null, "policy": "immediate"})
        );
        let err = validate(&fields(), &Map::new(), false).unwrap_err();
        assert_eq!(err.0["name"], vec!["This field is required."]);
    }

    #[test]
    fn partial_update_keeps_only_given_fields() {
        let out = validate(
            &fields(),
            json!({"policy": "on_demand"}).as_object().unwrap(),
            true,
        )
        .unwrap();
        assert_eq!(Value::Object(out), json!({"policy": "on_demand"}));
    }

    #[test]
    fn rejects_bad_values_with_drf_messages() {
        let body = json!({"name": "a", "download_concurrency": 0, "policy": "never", "pulp_href": "x", "bogus": 1});
        let err = validate(&fields(), body.as_object().unwrap(), false).unwrap_err();
        assert_eq!(
            err.0["download_concurrency"],
            vec!["Ensure this value is greater than or equal to 1."]
        );
        assert_eq!(err.0["policy"], vec!["\"never\" is not a valid choice."]);
        assert_eq!(err.0["pulp_href"], vec!["This field is read only."]);
        assert_eq!(err.0["bogus"], vec!["Unexpected field"]);
        let err =
            validate(&fields(), json!({"name": null}).as_object().unwrap(), true).unwrap_err();
        assert_eq!(err.0["name"], vec!["This field may not be null."]);
    }

    #[test]
    fn values_are_read_like_drf() {
        let body = json!({"name": "a", "download_concurrency": "4"});
        let out = validate(&fields(), body.as_object().unwrap(), false).unwrap();
        assert_eq!(out["download_concurrency"], json!(4));
        let body = json!({"name": "a", "download_concurrency": 4.0});
        let out = validate(&fields(), body.as_object().unwrap(), false).unwrap();
        assert_eq!(out["download_concurrency"], json!(4));
        for bad in [json!("4.5"), json!(true), json!([4])] {
            let body = json!({"name": "a", "download_concurrency": bad});
            let err = validate(&fields(), body.as_object().unwrap(), false).unwrap_err();
            assert_eq!(
                err.0["download_concurrency"],
                vec!["A valid integer is required."]
            );
        }
    }

    #[test]
    fn drf_spellings_of_numbers_and_booleans() {
        assert_eq!(parse_int(" 5 "), Some(5));
        assert_eq!(parse_int("5.00"), Some(5));
        assert_eq!(parse_int("5.5"), None);
        for t in ["t", "Y", "yes", "True", "on", "1"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["f", "N", "no", "FALSE", "off", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("2"), None);
    }

    #[test]
    fn urls_are_checked() {
        const URL: Field = Field::new("url", Kind::Url).required();
        let ok = json!({"url": "http://127.0.0.1:8000/PULP_MANIFEST"});
        assert!(validate(&[&URL], ok.as_object().unwrap(), false).is_ok());
        let bad = json!({"url": "not a url"});
        assert!(validate(&[&URL], bad.as_object().unwrap(), false).is_err());
    }
}
