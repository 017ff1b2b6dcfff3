//! depot's HTTP surface: the Pulp-compatible REST API under `/pulp/api/v3/`, the content app
//! under `/pulp/content/` and the OpenAPI document. Handlers parse, authorize, call the
//! domain (`depot_core`) and render; no SQL and no business rules live here.

pub mod content_app;
pub mod error;
pub mod openapi;
pub mod ops;
pub mod payload;
pub mod rbac_routes;
pub mod routes;
pub mod server;
pub mod status;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, RawPathParams, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, on};
use bytes::Bytes;

use depot_core::Depot;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub depot: Arc<Depot>,
    /// The OpenAPI document, rendered once at startup.
    pub spec: Bytes,
}

fn method_filter(m: &axum::http::Method) -> axum::routing::MethodFilter {
    use axum::routing::MethodFilter;
    match *m {
        axum::http::Method::GET => MethodFilter::GET,
        axum::http::Method::POST => MethodFilter::POST,
        axum::http::Method::PUT => MethodFilter::PUT,
        axum::http::Method::PATCH => MethodFilter::PATCH,
        axum::http::Method::DELETE => MethodFilter::DELETE,
        _ => MethodFilter::OPTIONS,
    }
}

async fn api_json(State(state): State<AppState>) -> Response {
    let mut r = (StatusCode::OK, state.spec.clone()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn api_not_found() -> Response {
    error::ApiError::not_found().into_response()
}

/// Give every operation with a body the shape of its schema in `doc`.
pub fn attach_body_shapes(ops: &mut [ops::Op], doc: &serde_json::Value) {
    for op in ops {
        if let Some(body) = &op.body {
            let schema = &doc["components"]["schemas"][&body.schema];
            op.shape = Some(Arc::new(payload::BodyShape::from_schema(schema)));
        }
    }
}

/// The HTTP application of this process's roles: the REST API (and its OpenAPI document),
/// the content app, or both; what a role leaves out answers 404.
pub fn app(depot: Arc<Depot>) -> Router {
    app_with(depot, Router::new())
}

/// [`app`] with more routes of the content types' own (the container registry's `/v2/`),
/// served by processes with the content role.
pub fn app_with(depot: Arc<Depot>, extra: Router) -> Router {
    let roles = depot.config.roles;
    let mut ops = if roles.api {
        routes::operations(&depot)
    } else {
        Vec::new()
    };
    let doc = openapi::document(&depot, &ops);
    attach_body_shapes(&mut ops, &doc);
    let spec = serde_json::to_vec(&doc).expect("spec serializes");
    let state = AppState {
        depot,
        spec: Bytes::from(spec),
    };
    let mut router: Router<AppState> = Router::new();
    for op in ops {
        let op = Arc::new(op);
        let filter = method_filter(&op.method);
        let route = op.route.clone();
        router = router.route(
            &route,
            on(
                filter,
                move |state: State<AppState>, params: RawPathParams, req: Request| {
                    ops::dispatch(op.clone(), state, params, req)
                },
            ),
        );
    }
    if roles.api {
        let docs = format!("{}docs/api.json", depot_core::href::API_ROOT);
        router = router.route(&docs, axum::routing::get(api_json));
    }
    if roles.content {
        router = router
            .route("/pulp/content", any(content_app::root_redirect))
            .route("/pulp/content/", any(content_app::handle))
            .route("/pulp/content/{*path}", any(content_app::handle));
    }
    let router: Router = router.layer(DefaultBodyLimit::disable()).with_state(state);
    let router = if roles.content {
        router.merge(extra)
    } else {
        router
    };
    router.fallback(api_not_found)
}
