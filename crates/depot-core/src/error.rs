//! The domain's error type. The HTTP layer maps each variant to one Pulp-shaped response.

use thiserror::Error;

use crate::fields::FieldErrors;
use depot_store::StoreError;

#[derive(Debug, Error)]
pub enum CoreError {
    /// Bad input: 400 `{"field": ["message"]}`.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// Bad input found outside a single field: 400 with a top-level JSON list `["message"]`.
    #[error("{0}")]
    InvalidList(String),
    /// 404 `{"detail": "..."}`.
    #[error("{0}")]
    NotFound(String),
    /// 401: no or wrong credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 409: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 429: too much at once (password checks queued beyond their bound).
    #[error("{0}")]
    TooManyRequests(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl CoreError {
    pub fn invalid(field: &str, msg: impl Into<String>) -> CoreError {
        CoreError::Invalid(FieldErrors::one(field, msg))
    }
    pub fn non_field(msg: impl Into<String>) -> CoreError {
        CoreError::Invalid(FieldErrors::one("non_field_errors", msg))
    }
}

impl From<FieldErrors> for CoreError {
    fn from(e: FieldErrors) -> Self {
        CoreError::Invalid(e)
    }
}

impl From<sqlx::Error> for CoreError {
    fn from(e: sqlx::Error) -> Self {
        CoreError::Store(StoreError::from_sqlx(e))
    }
}

impl From<std::io::Error> for CoreError {
    fn from(e: std::io::Error) -> Self {
        CoreError::Store(StoreError::Io(e))
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
