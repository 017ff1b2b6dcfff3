//! Request bodies: JSON, url-encoded forms and multipart, all turned into the JSON object the
//! operation's schema describes, so handlers never know which encoding a client chose.
//!
//! Forms carry only strings. Django REST framework (and so Pulp) reads them field by field:
//! a list field takes every value of a repeated key, a scalar the last one; booleans and
//! numbers are parsed; an empty string means null where the field is nullable and "not
//! given" where an empty value cannot be meant (numbers, choices, links). pulp-glue sends
//! lists and objects inside forms as JSON text, Ansible's `uri` module as repeated keys;
//! both are accepted. Where DRF has a known bug (a form PATCH wiping `pulp_labels`, a form
//! create without `tls_validation` turning TLS checks off) depot does what the client meant.
//!
//! Uploaded files go to a temporary blob while being hashed, never into memory whole; every
//! other part of a body is bounded.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use depot_core::Depot;
use depot_core::fields::{parse_bool, parse_int};
use depot_store::{Digests, TempBlob};

use crate::error::ApiError;

/// Largest JSON or url-encoded body accepted, and the most text a multipart body may carry
/// besides its file.
pub const MAX_DOCUMENT: usize = 8 * 1024 * 1024;

/// A parsed request body.
#[derive(Debug, Default)]
pub struct Payload {
    pub fields: Map<String, Value>,
    /// The uploaded file of a multipart body, with its digests (all of sha224..sha512).
    pub file: Option<(TempBlob, Digests)>,
}

/// What JSON value a form field becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Free text: an empty string stays an empty string.
    Text,
    /// A string that cannot be empty (a choice, a link, a date): empty means "not given".
    Token,
    Int,
    Num,
    Bool,
    /// A list: repeated keys, one key, or JSON text.
    List,
    /// A JSON object or array of objects, sent as JSON text (or `name.key=value` pairs).
    Json,
    /// An uploaded file.
    File,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldShape {
    pub shape: Shape,
    pub nullable: bool,
    pub required: bool,
}

/// The fields of an operation's request body, read off its OpenAPI schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BodyShape {
    pub fields: HashMap<String, FieldShape>,
}

impl BodyShape {
    /// From an OpenAPI object schema (`properties`, `required`).
    pub fn from_schema(schema: &Value) -> BodyShape {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = HashMap::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, p) in props {
                if p.get("readOnly").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                let shape = match p.get("type").and_then(Value::as_str) {
                    Some("array") => match p.pointer("/items/type").and_then(Value::as_str) {
                        Some("object") => Shape::Json,
                        _ => Shape::List,
                    },
                    Some("object") => Shape::Json,
                    Some("boolean") => Shape::Bool,
                    Some("integer") => Shape::Int,
                    Some("number") => Shape::Num,
                    _ => match p.get("format").and_then(Value::as_str) {
                        Some("binary") => Shape::File,
                        Some(_) => Shape::Token,
                        None if p.get("enum").is_some() => Shape::Token,
                        None => Shape::Text,
                    },
                };
                fields.insert(
                    name.clone(),
                    FieldShape {
                        shape,
                        nullable: p.get("nullable").and_then(Value::as_bool) == Some(true),
                        required: required.contains(&name.as_str()),
                    },
                );
            }
        }
        BodyShape { fields }
    }

    fn get(&self, name: &str) -> Option<FieldShape> {
        self.fields.get(name).copied()
    }
}

/// Turn form pairs (in order, keys possibly repeated) into the JSON object `shape` describes.
/// Keys the shape does not know keep their last value as a string, so the handler's
/// validation names them.
pub fn normalize_form(
    pairs: Vec<(String, String)>,
    shape: Option<&BodyShape>,
) -> Map<String, Value> {
    // group values by key, keys in the order they first appear
    let mut order: Vec<String> = Vec::new();
    let mut values: HashMap<String, Vec<String>> = HashMap::new();
    // `pulp_labels.key=value`: dotted keys of object fields
    let mut dotted: HashMap<String, Map<String, Value>> = HashMap::new();
    for (k, v) in pairs {
        if k == "csrfmiddlewaretoken" {
            continue;
        }
        if let Some((base, sub)) = k.split_once('.')
            && !sub.is_empty()
            && shape
                .and_then(|s| s.get(base))
                .is_some_and(|f| f.shape == Shape::Json)
        {
            if !dotted.contains_key(base) && !values.contains_key(base) {
                order.push(base.to_string());
            }
            dotted
                .entry(base.to_string())
                .or_default()
                .insert(sub.to_string(), Value::from(v));
            continue;
        }
        if !values.contains_key(&k) && !dotted.contains_key(&k) {
            order.push(k.clone());
        }
        values.entry(k).or_default().push(v);
    }
    let mut out = Map::new();
    for key in order {
        let field = shape.and_then(|s| s.get(&key));
        if let Some(obj) = dotted.remove(&key) {
            out.insert(key, Value::Object(obj));
            continue;
        }
        let vals = values.remove(&key).unwrap_or_default();
        let Some(field) = field else {
            out.insert(key, Value::from(vals.last().cloned().unwrap_or_default()));
            continue;
        };
        if let Some(v) = form_value(field, vals) {
            out.insert(key, v);
        }
    }
    out
}

/// One field's JSON value from its form values; `None` when an empty value means "not given".
fn form_value(field: FieldShape, mut vals: Vec<String>) -> Option<Value> {
    if field.shape == Shape::List {
        if vals.len() == 1 {
            let v = vals.pop().unwrap_or_default();
            if v.is_empty() {
                return Some(if field.nullable {
                    Value::Null
                } else {
                    Value::Array(Vec::new())
                });
            }
            if v.trim_start().starts_with('[')
                && let Ok(list @ Value::Array(_)) = serde_json::from_str(&v)
            {
                return Some(list);
            }
            return Some(Value::Array(vec![Value::from(v)]));
        }
        return Some(Value::Array(vals.into_iter().map(Value::from).collect()));
    }
    let v = vals.pop().unwrap_or_default();
    if v.is_empty() {
        if field.nullable {
            return Some(Value::Null);
        }
        // free text may be blank; anything else blank is either absent or, when required,
        // left for validation to refuse
        return match field.shape {
            Shape::Text => Some(Value::from(v)),
            _ if field.required => Some(Value::from(v)),
            _ => None,
        };
    }
    Some(match field.shape {
        Shape::Bool => parse_bool(&v).map(Value::Bool).unwrap_or(Value::from(v)),
        Shape::Int => parse_int(&v).map(Value::from).unwrap_or(Value::from(v)),
        Shape::Num => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Value::from)
            .unwrap_or(Value::from(v)),
        Shape::Json => serde_json::from_str(&v).unwrap_or(Value::from(v)),
        _ => Value::from(v),
    })
}

fn media_type(req: &Request) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Parse whatever body the request carries into the object `shape` describes. An empty body
/// is an empty object.
pub async fn read(
    depot: &Depot,
    req: Request,
    shape: Option<&BodyShape>,
) -> Result<Payload, ApiError> {
    match media_type(&req).as_str() {
        "multipart/form-data" => read_multipart(depot, req, shape).await,
        "application/x-www-form-urlencoded" => {
            let bytes = read_limited(req.into_body()).await?;
            let pairs = form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            Ok(Payload {
                fields: normalize_form(pairs, shape),
                file: None,
            })
        }
        "" | "application/json" => {
            let bytes = read_limited(req.into_body()).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Payload::default());
            }
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(fields)) => Ok(Payload { fields, file: None }),
                Ok(other) => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    json!({"non_field_errors": [format!(
                        "Invalid data. Expected a dictionary, but got {}.",
                        match other { Value::Array(_) => "list", Value::String(_) => "str", _ => "value" }
                    )]}),
                )),
                Err(e) => Err(ApiError::detail(
                    StatusCode::BAD_REQUEST,
                    format!("JSON parse error - {e}"),
                )),
            }
        }
        other => Err(ApiError::detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported media type \"{other}\" in request."),
        )),
    }
}

fn too_large() -> ApiError {
    ApiError::detail(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Request body larger than {MAX_DOCUMENT} bytes."),
    )
}

async fn read_limited(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_DOCUMENT)
        .await
        .map_err(|_| too_large())
}

async fn read_multipart(
    depot: &Depot,
    req: Request,
    shape: Option<&BodyShape>,
) -> Result<Payload, ApiError> {
    let mut mp = Multipart::from_request(req, &()).await.map_err(|e| {
        ApiError::detail(
            StatusCode::BAD_REQUEST,
            format!("Multipart form parse error - {e}"),
        )
    })?;
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::detail(
            StatusCode::BAD_REQUEST,
            format!("Multipart form parse error - {e}"),
        )
    };
    let store = |e: std::io::Error| ApiError::from(depot_core::CoreError::from(e));
    let mut file = None;
    let mut pairs = Vec::new();
    let mut text_bytes = 0usize;
    while let Some(mut field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        // a part is a file when it names one (whatever its disposition type says)
        if field.file_name().is_some_and(|n| !n.is_empty()) {
            if file.is_some() {
                return Err(ApiError::bad_request(
                    &name,
                    "Only one file may be uploaded.",
                ));
            }
            let mut blob = depot.blobs.create_temp_all().await.map_err(store)?;
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(bad)?;
                blob.write(&chunk).await.map_err(store)?;
            }
            let digests = blob.finish().await.map_err(store)?;
            file = Some((blob, digests));
        } else {
            let mut text = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(bad)?;
                text_bytes += chunk.len();
                if text_bytes > MAX_DOCUMENT {
                    return Err(too_large());
                }
                text.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(text)
                .map_err(|_| ApiError::bad_request(&name, "The value is not valid UTF-8 text."))?;
            pairs.push((name, text));
        }
    }
    Ok(Payload {
        fields: normalize_form(pairs, shape),
        file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> BodyShape {
        BodyShape::from_schema(&json!({
            "type": "object",
            "required": ["role"],
            "properties": {
                "role": {"type": "string"},
                "users": {"type": "array", "items": {"type": "string"}},
                "description": {"type": "string", "nullable": true},
                "first_name": {"type": "string"},
                "policy": {"type": "string", "enum": ["immediate", "on_demand"]},
                "tls_validation": {"type": "boolean"},
                "download_concurrency": {"type": "integer", "nullable": true},
                "max_retries": {"type": "integer"},
                "total_timeout": {"type": "number", "nullable": true},
                "pulp_labels": {"type": "object"},
                "headers": {"type": "array", "items": {"type": "object"}},
                "pulp_href": {"type": "string", "readOnly": true},
            },
        }))
    }

    fn form(q: &str) -> Value {
        let pairs = form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Value::Object(normalize_form(pairs, Some(&shape())))
    }

    #[test]
    fn lists_from_repeated_single_and_json_text() {
        assert_eq!(form("users=a&users=b")["users"], json!(["a", "b"]));
        assert_eq!(form("users=a")["users"], json!(["a"]));
        assert_eq!(
            form("users=%5B%22a%22%2C%22b%22%5D")["users"],
            json!(["a", "b"])
        );
        assert_eq!(form("users=")["users"], json!([]));
    }

    #[test]
    fn scalars_take_the_last_value_and_their_type() {
        let v = form(
            "role=x&role=y&tls_validation=False&download_concurrency=5&total_timeout=2.5&max_retries=3.0",
        );
        assert_eq!(v["role"], "y");
        assert_eq!(v["tls_validation"], false);
        assert_eq!(v["download_concurrency"], 5);
        assert_eq!(v["total_timeout"], 2.5);
        assert_eq!(v["max_retries"], 3);
        // what cannot be parsed reaches validation as text, to be refused there
        assert_eq!(form("max_retries=many")["max_retries"], "many");
        assert_eq!(form("tls_validation=maybe")["tls_validation"], "maybe");
    }

    #[test]
    fn empty_strings_follow_the_field() {
        let v = form(
            "description=&first_name=&policy=&download_concurrency=&max_retries=&tls_validation=&role=",
        );
        assert_eq!(v["description"], Value::Null);
        assert_eq!(v["first_name"], "");
        assert_eq!(v["download_concurrency"], Value::Null);
        assert_eq!(v["role"], "", "a required field is left for validation");
        let m = v.as_object().unwrap();
        for absent in ["policy", "max_retries", "tls_validation"] {
            assert!(!m.contains_key(absent), "{absent} should be absent");
        }
    }

    #[test]
    fn json_text_and_dotted_keys_for_objects() {
        assert_eq!(
            form("pulp_labels=%7B%22a%22%3A%22b%22%7D")["pulp_labels"],
            json!({"a": "b"})
        );
        assert_eq!(
            form("pulp_labels.a=b&pulp_labels.c=d")["pulp_labels"],
            json!({"a": "b", "c": "d"})
        );
        assert_eq!(
            form("headers=%5B%7B%22X%22%3A%22y%22%7D%5D")["headers"],
            json!([{"X": "y"}])
        );
    }

    #[test]
    fn unknown_keys_pass_through_and_read_only_fields_are_not_shaped() {
        let v = form("bogus=1&bogus=2&pulp_href=x&csrfmiddlewaretoken=t");
        assert_eq!(v["bogus"], "2");
        assert_eq!(v["pulp_href"], "x");
        assert!(v.get("csrfmiddlewaretoken").is_none());
    }
}
