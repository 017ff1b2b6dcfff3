//! Request bodies: JSON, url-encoded forms and multipart (uploaded files go to a temp blob
//! while being hashed, never into memory whole).

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use depot_core::Depot;
use depot_core::fields::Source;
use depot_store::{Digests, TempBlob};

use crate::error::ApiError;

/// Largest JSON or form body accepted.
const MAX_DOCUMENT: usize = 16 * 1024 * 1024;

/// A parsed request body.
#[derive(Debug, Default)]
pub struct Payload {
    pub fields: Map<String, Value>,
    pub source: Option<Source>,
    /// The uploaded file of a multipart body, with its digests (all of sha224..sha512).
    pub file: Option<(TempBlob, Digests)>,
}

impl Payload {
    pub fn source(&self) -> Source {
        self.source.unwrap_or(Source::Json)
    }
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

/// Parse whatever body the request carries. An empty body is an empty object.
pub async fn read(depot: &Depot, req: Request) -> Result<Payload, ApiError> {
    match media_type(&req).as_str() {
        "multipart/form-data" => read_multipart(depot, req).await,
        "application/x-www-form-urlencoded" => {
            let bytes = read_limited(req.into_body()).await?;
            let mut fields = Map::new();
            for (k, v) in form_urlencoded::parse(&bytes) {
                fields.insert(k.into_owned(), Value::from(v.into_owned()));
            }
            Ok(Payload {
                fields,
                source: Some(Source::Form),
                file: None,
            })
        }
        "" | "application/json" => {
            let bytes = read_limited(req.into_body()).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Payload::default());
            }
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(fields)) => Ok(Payload {
                    fields,
                    source: Some(Source::Json),
                    file: None,
                }),
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

async fn read_limited(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_DOCUMENT).await.map_err(|_| {
        ApiError::detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body larger than {MAX_DOCUMENT} bytes."),
        )
    })
}

async fn read_multipart(depot: &Depot, req: Request) -> Result<Payload, ApiError> {
    let mut mp = Multipart::from_request(req, &()).await.map_err(|e| {
        ApiError::detail(
            StatusCode::BAD_REQUEST,
            format!("Multipart form parse error - {e}"),
        )
    })?;
    let mut payload = Payload {
        source: Some(Source::Form),
        ..Default::default()
    };
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::detail(
            StatusCode::BAD_REQUEST,
            format!("Multipart form parse error - {e}"),
        )
    };
    while let Some(mut field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if field.file_name().is_some() {
            if payload.file.is_some() {
                return Err(ApiError::bad_request(
                    &name,
                    "Only one file may be uploaded.",
                ));
            }
            let mut blob = depot
                .blobs
                .create_temp_all()
                .await
                .map_err(|e| ApiError::from(depot_core::CoreError::from(e)))?;
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(bad)?;
                blob.write(&chunk)
                    .await
                    .map_err(|e| ApiError::from(depot_core::CoreError::from(e)))?;
            }
            let digests = blob
                .finish()
                .await
                .map_err(|e| ApiError::from(depot_core::CoreError::from(e)))?;
            payload.file = Some((blob, digests));
            payload.fields.insert(name, Value::Null);
        } else {
            let text = field.text().await.map_err(bad)?;
            payload.fields.insert(name, Value::from(text));
        }
    }
    // the file's own key only marks that a file came
    if let Some(key) = payload
        .fields
        .iter()
        .find(|(_, v)| v.is_null())
        .map(|(k, _)| k.clone())
    {
        payload.fields.remove(&key);
    }
    Ok(payload)
}
