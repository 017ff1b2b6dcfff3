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

/// Where a request body came from: form and multipart values arrive as strings and are
/// coerced to the field's kind; JSON values must already have it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Json,
    Form,
}

/// Validate and normalise a request body against `fields`.
///
/// Unknown fields, read-only fields given a value, wrong types, missing required fields (on
/// create) and nulls where not allowed are errors. On create (`partial == false`) defaults are
/// filled in. The result only holds writable fields.
pub fn validate(
    fields: &[&Field],
    body: &Map<String, Value>,
    partial: bool,
    source: Source,
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
            Some(v) => match coerce(f, v, source) {
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

fn coerce(f: &Field, v: &Value, source: Source) -> Result<Value, String> {
    if v.is_null() || (source == Source::Form && v.as_str() == Some("") && f.nullable) {
        return if f.nullable {
            Ok(Value::Null)
        } else {
            Err("This field may not be null.".into())
        };
    }
    let text = v.as_str();
    match f.kind {
        Kind::Str | Kind::DateTime => match text {
            Some("") if f.required => Err("This field may not be blank.".into()),
            Some(s) => Ok(Value::from(s)),
            None => Err("Not a valid string.".into()),
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
            let i = match (v, source) {
                (Value::Number(n), _) => n.as_i64(),
                (Value::String(s), Source::Form) => s.trim().parse().ok(),
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
            let x = match (v, source) {
                (Value::Number(n), _) => n.as_f64(),
                (Value::String(s), Source::Form) => s.trim().parse().ok(),
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
        Kind::Bool => match (v, source) {
            (Value::Bool(b), _) => Ok(Value::Bool(*b)),
            (Value::String(s), Source::Form) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
                "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
                _ => Err("Must be a valid boolean.".into()),
            },
            _ => Err("Must be a valid boolean.".into()),
        },
        Kind::Choice(choices) => match text {
            Some(s) if choices.contains(&s) => Ok(Value::from(s)),
            Some(s) => Err(format!("\"{s}\" is not a valid choice.")),
            None => Err(format!("\"{v}\" is not a valid choice.")),
        },
        Kind::Labels => {
            let v = parse_form_json(v, source)?;
            match &v {
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
                    Ok(v)
                }
                _ => Err("Expected a dictionary of string values.".into()),
            }
        }
        Kind::Json(_) => parse_form_json(v, source),
        Kind::StrList => {
            let v = parse_form_json(v, source)?;
            match &v {
                Value::Array(items) if items.iter().all(Value::is_string) => Ok(v),
                _ => Err("Expected a list of strings.".into()),
            }
        }
        Kind::Href(_) => match text {
            Some(s) if s.starts_with('/') || s.starts_with("prn:") => Ok(Value::from(s)),
            Some("") if f.nullable => Ok(Value::Null),
            Some(_) => Err("Invalid hyperlink - No URL match.".into()),
            None => Err("Incorrect type. Expected URL string, received object.".into()),
        },
        Kind::HrefList(_) => {
            let v = parse_form_json(v, source)?;
            match &v {
                Value::Array(items) if items.iter().all(Value::is_string) => Ok(v),
                _ => Err("Expected a list of items.".into()),
            }
        }
        Kind::File => Ok(v.clone()),
    }
}

/// Form fields carrying JSON (labels, headers) arrive as text.
fn parse_form_json(v: &Value, source: Source) -> Result<Value, String> {
    match (v, source) {
        (Value::String(s), Source::Form) => {
            serde_json::from_str(s).map_err(|_| "Value must be valid JSON.".to_string())
        }
        _ => Ok(v.clone()),
    }
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
        let out = validate(
            &fields(),
            json!({"name": "a"}).as_object().unwrap(),
            false,
            Source::Json,
        )
        .unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"name": "a", "download_concurrency": null, "policy": "immediate"})
        );
        let err = validate(&fields(), &Map::new(), false, Source::Json).unwrap_err();
        assert_eq!(err.0["name"], vec!["This field is required."]);
    }

    #[test]
    fn partial_update_keeps_only_given_fields() {
        let out = validate(
            &fields(),
            json!({"policy": "on_demand"}).as_object().unwrap(),
            true,
            Source::Json,
        )
        .unwrap();
        assert_eq!(Value::Object(out), json!({"policy": "on_demand"}));
    }

    #[test]
    fn rejects_bad_values_with_drf_messages() {
        let body = json!({"name": "a", "download_concurrency": 0, "policy": "never", "pulp_href": "x", "bogus": 1});
        let err = validate(&fields(), body.as_object().unwrap(), false, Source::Json).unwrap_err();
        assert_eq!(
            err.0["download_concurrency"],
            vec!["Ensure this value is greater than or equal to 1."]
        );
        assert_eq!(err.0["policy"], vec!["\"never\" is not a valid choice."]);
        assert_eq!(err.0["pulp_href"], vec!["This field is read only."]);
        assert_eq!(err.0["bogus"], vec!["Unexpected field"]);
        let err = validate(
            &fields(),
            json!({"name": null}).as_object().unwrap(),
            true,
            Source::Json,
        )
        .unwrap_err();
        assert_eq!(err.0["name"], vec!["This field may not be null."]);
    }

    #[test]
    fn form_values_are_coerced() {
        let body = json!({"name": "a", "download_concurrency": "4"});
        let out = validate(&fields(), body.as_object().unwrap(), false, Source::Form).unwrap();
        assert_eq!(out["download_concurrency"], json!(4));
        let body = json!({"name": "a", "download_concurrency": "4"});
        assert!(validate(&fields(), body.as_object().unwrap(), false, Source::Json).is_err());
    }

    #[test]
    fn urls_are_checked() {
        const URL: Field = Field::new("url", Kind::Url).required();
        let ok = json!({"url": "http://127.0.0.1:8000/PULP_MANIFEST"});
        assert!(validate(&[&URL], ok.as_object().unwrap(), false, Source::Json).is_ok());
        let bad = json!({"url": "not a url"});
        assert!(validate(&[&URL], bad.as_object().unwrap(), false, Source::Json).is_err());
    }
}
