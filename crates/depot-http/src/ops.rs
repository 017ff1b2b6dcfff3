//! API operations: each one is declared once, with everything both the router and the
//! OpenAPI document need (operationId, method, href-style path template, parameters, body,
//! responses, whether credentials are required) plus its handler.
//!
//! `dispatch` is the common path of every API request: authenticate, call the handler,
//! render the reply (pagination, `fields`/`exclude_fields`, status codes), echo the
//! correlation id.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::RawPathParams;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use depot_core::Depot;
use depot_core::auth::User;
use depot_core::rbac::Perm;
use depot_core::resources::{Listed, Outcome};

use crate::AppState;
use crate::error::{ApiError, json_bytes};
use crate::payload::{self, BodyShape, Payload};

/// What a handler returns.
pub enum Reply {
    Json(StatusCode, Value),
    Empty(StatusCode),
    /// A page of a list, rendered with `next`/`previous` links.
    List(Listed),
    /// The result of a write: 201/200 with the object, or 202 with a task.
    Outcome(Outcome),
}

pub type HandlerFn = Arc<dyn Fn(Req) -> BoxFuture<'static, Result<Reply, ApiError>> + Send + Sync>;

/// Wrap an async closure as a handler.
pub fn h<F, Fut>(f: F) -> HandlerFn
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Reply, ApiError>> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}

/// Wrap an async closure that also gets a clone of `data` (the type definition it serves).
pub fn hd<D, F, Fut>(data: D, f: F) -> HandlerFn
where
    D: Clone + Send + Sync + 'static,
    F: Fn(Req, D) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Reply, ApiError>> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req, data.clone())))
}

/// A query or header parameter, for the OpenAPI document.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub location: &'static str,
    pub schema: Value,
    pub required: bool,
    /// `Some(false)` for comma-joined arrays.
    pub explode: Option<bool>,
}

impl Param {
    pub fn query(name: &str, schema: Value) -> Param {
        Param {
            name: name.to_string(),
            location: "query",
            schema,
            required: false,
            explode: None,
        }
    }
}

/// A request body, for the OpenAPI document.
#[derive(Clone, Debug)]
pub struct BodyDoc {
    pub schema: String,
    pub media: &'static [&'static str],
    pub required: bool,
}

pub const JSON_BODY: &[&str] = &[
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];
pub const FORM_BODY: &[&str] = &["multipart/form-data", "application/x-www-form-urlencoded"];
pub const MULTIPART_BODY: &[&str] = &["multipart/form-data"];

#[derive(Clone)]
pub struct Op {
    pub id: String,
    pub method: Method,
    /// axum route, e.g. `/pulp/api/v3/remotes/file/file/{id}/`
    pub route: String,
    /// OpenAPI path key, e.g. `{file_file_remote_href}`
    pub template: String,
    pub path_param: Option<String>,
    pub params: Vec<Param>,
    pub body: Option<BodyDoc>,
    /// (status, response schema name or None)
    pub responses: Vec<(u16, Option<String>)>,
    pub secured: bool,
    /// What the caller must be allowed (checked before the handler runs).
    pub perm: Perm,
    pub tag: String,
    pub summary: String,
    pub handler: HandlerFn,
    /// How form and multipart bodies become JSON: the fields of the body's schema (filled in
    /// from the OpenAPI document when the router is built).
    pub shape: Option<Arc<BodyShape>>,
}

impl Op {
    pub fn new(
        id: impl Into<String>,
        method: Method,
        route: impl Into<String>,
        handler: HandlerFn,
    ) -> Op {
        let route = route.into();
        Op {
            id: id.into(),
            method,
            template: route.clone(),
            route,
            path_param: None,
            params: Vec::new(),
            body: None,
            responses: Vec::new(),
            secured: true,
            // nothing is open unless an operation says so
            perm: Perm::Admin,
            tag: String::new(),
            summary: String::new(),
            handler,
            shape: None,
        }
    }
    pub fn href(mut self, param: &str, suffix: &str) -> Op {
        self.path_param = Some(param.to_string());
        self.template = format!("{{{param}}}{suffix}");
        self
    }
    pub fn params(mut self, p: Vec<Param>) -> Op {
        self.params.extend(p);
        self
    }
    pub fn body(mut self, schema: &str, media: &'static [&'static str]) -> Op {
        self.body = Some(BodyDoc {
            schema: schema.to_string(),
            media,
            required: true,
        });
        self
    }
    pub fn optional_body(mut self, schema: &str, media: &'static [&'static str]) -> Op {
        self.body = Some(BodyDoc {
            schema: schema.to_string(),
            media,
            required: false,
        });
        self
    }
    pub fn responds(mut self, status: u16, schema: Option<&str>) -> Op {
        self.responses.push((status, schema.map(str::to_string)));
        self
    }
    pub fn anonymous(mut self) -> Op {
        self.secured = false;
        self.perm = Perm::Anonymous;
        self
    }
    pub fn perm(mut self, perm: Perm) -> Op {
        self.perm = perm;
        self
    }
    pub fn tag(mut self, tag: &str, summary: &str) -> Op {
        self.tag = tag.to_string();
        self.summary = summary.to_string();
        self
    }
}

/// Everything a handler may look at.
pub struct Req {
    pub state: AppState,
    pub user: Option<User>,
    pub path: HashMap<String, String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub request: Option<Request>,
    pub shape: Option<Arc<BodyShape>>,
}

impl Req {
    pub fn depot(&self) -> &Arc<Depot> {
        &self.state.depot
    }
    pub fn user_id(&self) -> Option<i64> {
        self.user.as_ref().map(|u| u.id)
    }
    /// The authenticated user (operations that reach a handler without one are anonymous).
    pub fn user(&self) -> Result<&User, ApiError> {
        self.user.as_ref().ok_or_else(|| {
            ApiError::unauthenticated("Authentication credentials were not provided.")
        })
    }
    /// Tasks and similar objects a non-superuser may only see when they created them.
    pub fn own_only(&self) -> Option<i64> {
        self.user.as_ref().filter(|u| !u.is_superuser).map(|u| u.id)
    }
    /// The object id from the path; malformed ids are Pulp's bare 404.
    pub fn id(&self) -> Result<String, ApiError> {
        let id = self.path.get("id").cloned().unwrap_or_default();
        if id.parse::<i64>().is_ok() || is_uuid(&id) {
            Ok(id)
        } else {
            Err(ApiError::not_found())
        }
    }
    pub fn number(&self) -> Result<i64, ApiError> {
        self.path
            .get("number")
            .and_then(|n| n.parse().ok())
            .ok_or_else(ApiError::not_found)
    }
    pub async fn payload(&mut self) -> Result<Payload, ApiError> {
        match self.request.take() {
            Some(r) => payload::read(&self.state.depot, r, self.shape.as_deref()).await,
            None => Ok(Payload::default()),
        }
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The username and password of an HTTP Basic `Authorization` header (`None` without one).
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default();
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Err(ApiError::unauthenticated("Invalid username/password."));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            ApiError::unauthenticated(
                "Invalid basic header. Credentials not correctly base64 encoded.",
            )
        })?;
    let (user, pass) = decoded
        .split_once(':')
        .ok_or_else(|| ApiError::unauthenticated("Invalid username/password."))?;
    Ok(Some((user.to_string(), pass.to_string())))
}

/// Check HTTP Basic credentials.
pub async fn authenticate(depot: &Depot, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    let Some((user, pass)) = basic_credentials(headers)? else {
        return Ok(None);
    };
    match depot.authenticate(&user, &pass).await? {
        Some(u) => Ok(Some(u)),
        None => Err(ApiError::unauthenticated("Invalid username/password.")),
    }
}

/// The common path of every API request.
pub async fn dispatch(
    op: Arc<Op>,
    State(state): State<AppState>,
    params: RawPathParams,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let cid = headers
        .get("correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let uri = request.uri().clone();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let path: HashMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let method = request.method().clone();
    let is_get = method == Method::GET || method == Method::HEAD;
    let result = async {
        // Anonymous operations ignore credentials (no password is checked for them); the
        // others require valid ones.
        let user = if op.secured {
            authenticate(&state.depot, &headers).await?
        } else {
            None
        };
        state
            .depot
            .check(user.as_ref(), &op.perm, path.get("id").map(String::as_str))
            .await?;
        let req = Req {
            state: state.clone(),
            user: user.clone(),
            path,
            query: query.clone(),
            headers: headers.clone(),
            request: Some(request),
            shape: op.shape.clone(),
        };
        let reply = (op.handler)(req).await?;
        // whoever creates an object (other than a superuser) owns it
        if let (Reply::Outcome(Outcome::Done(v)), Some(u)) = (&reply, &user)
            && !u.is_superuser
            && let Some(href) = v.get("pulp_href").and_then(Value::as_str)
        {
            state.depot.grant_owner(u.id, href).await?;
        }
        Ok::<_, ApiError>(reply)
    }
    .await;
    let mut response = match result {
        Ok(reply) => render(reply, &query, &uri, &host, is_get),
        Err(e) => e.into_response(),
    };
    if let Some(cid) = cid.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert("Correlation-ID", cid);
    }
    response
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, json_bytes(v)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `fields=a&fields=b` / `exclude_fields=...` trim representations on GET.
fn trim_fields(v: &mut Value, query: &[(String, String)]) {
    let collect = |key: &str| -> Vec<String> {
        query
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let include = collect("fields");
    let exclude = collect("exclude_fields");
    if include.is_empty() && exclude.is_empty() {
        return;
    }
    if let Value::Object(m) = v {
        if !include.is_empty() {
            m.retain(|k, _| include.iter().any(|f| f == k));
        }
        for f in &exclude {
            m.remove(f);
        }
    }
}

fn render(
    reply: Reply,
    query: &[(String, String)],
    uri: &axum::http::Uri,
    host: &str,
    is_get: bool,
) -> Response {
    match reply {
        Reply::Json(status, mut v) => {
            if is_get {
                trim_fields(&mut v, query);
            }
            json_response(status, &v)
        }
        Reply::Empty(status) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = status;
            r
        }
        Reply::Outcome(Outcome::Done(v)) => {
            let mut r = json_response(StatusCode::CREATED, &v);
            if let Some(href) = v.get("pulp_href").and_then(Value::as_str)
                && let Ok(h) = HeaderValue::from_str(href)
            {
                r.headers_mut().insert(header::LOCATION, h);
            }
            r
        }
        Reply::Outcome(Outcome::Unchanged(v)) => json_response(StatusCode::OK, &v),
        Reply::Outcome(Outcome::Task(href)) => {
            json_response(StatusCode::ACCEPTED, &json!({ "task": href }))
        }
        Reply::List(mut listed) => {
            for r in &mut listed.results {
                trim_fields(r, query);
            }
            let link = |offset: Option<i64>| -> Value {
                let mut params: Vec<(String, String)> = query
                    .iter()
                    .filter(|(k, _)| k != "offset" && k != "limit")
                    .cloned()
                    .collect();
                params.push(("limit".into(), listed.limit.to_string()));
                if let Some(o) = offset {
                    params.push(("offset".into(), o.to_string()));
                }
                params.sort();
                let qs = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish();
                Value::from(format!("http://{host}{}?{qs}", uri.path()))
            };
            let next = if listed.offset + listed.limit < listed.count {
                link(Some(listed.offset + listed.limit))
            } else {
                Value::Null
            };
            let previous = if listed.offset <= 0 {
                Value::Null
            } else if listed.offset - listed.limit <= 0 {
                link(None)
            } else {
                link(Some(listed.offset - listed.limit))
            };
            json_response(
                StatusCode::OK,
                &json!({
                    "count": listed.count,
                    "next": next,
                    "previous": previous,
                    "results": listed.results,
                }),
            )
        }
    }
}

/// Turn a JSON object from a handler into `Reply::Json(200, ..)`.
pub fn ok(v: Value) -> Result<Reply, ApiError> {
    Ok(Reply::Json(StatusCode::OK, v))
}

pub fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
