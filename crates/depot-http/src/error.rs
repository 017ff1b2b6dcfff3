//! The one place domain errors become HTTP responses, in Pulp's shapes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use depot_core::CoreError;

/// An API error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, body: Value) -> ApiError {
        ApiError { status, body }
    }
    pub fn detail(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError::new(status, json!({ "detail": detail.into() }))
    }
    pub fn bad_request(field: &str, msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, json!({ field: [msg.into()] }))
    }
    pub fn not_found() -> ApiError {
        ApiError::detail(StatusCode::NOT_FOUND, "Not found.")
    }
    pub fn unauthenticated(detail: &str) -> ApiError {
        ApiError::detail(StatusCode::UNAUTHORIZED, detail)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(errs) => ApiError::new(StatusCode::BAD_REQUEST, errs.to_json()),
            CoreError::InvalidList(msg) => ApiError::new(StatusCode::BAD_REQUEST, json!([msg])),
            CoreError::NotFound(msg) => ApiError::detail(StatusCode::NOT_FOUND, msg),
            CoreError::Unauthenticated(msg) => ApiError::unauthenticated(&msg),
            CoreError::Forbidden(msg) => ApiError::detail(StatusCode::FORBIDDEN, msg),
            CoreError::Conflict(msg) => ApiError::detail(StatusCode::CONFLICT, msg),
            CoreError::TooManyRequests(msg) => ApiError::detail(StatusCode::TOO_MANY_REQUESTS, msg),
            CoreError::Store(depot_store::StoreError::Unique { column }) => {
                ApiError::bad_request(&column, "This field must be unique.")
            }
            other => {
                tracing::error!(error = %other, "request failed");
                ApiError::detail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Internal error: {other}"),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, json_bytes(&self.body)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // the rest of the body is not read: the connection cannot carry another request
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"api\""),
            );
        }
        r
    }
}

/// Compact JSON, as Pulp renders it.
pub fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON values serialize")
}
