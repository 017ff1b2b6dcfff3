//! The OCI registry (Distribution Spec v1.1) at `/v2/`, with Pulp's token service at
//! `/token/`.
//!
//! Names are container distributions' base paths. Pulls read what the distribution serves
//! (its repository's latest version, or a fixed version) plus what was pushed to its
//! repository but is in no version yet; pushes write into the distribution's repository,
//! making it on the first push. Errors have the spec's JSON shape and codes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use base64::Engine;
use futures::StreamExt;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use depot_core::auth::User;
use depot_core::serving::{FileSource, Resolution, Source, StoredFile};
use depot_core::{Depot, href};
use depot_store::ExpectedDigests;

use crate::access::{self, may_pull, may_push, valid_name};
use crate::manifest::{self, is_sha256_digest};
use crate::token::{Claims, Scope, TokenKeys};
use crate::uploads::{Session, Sessions};
use crate::{BLOB, MANIFEST, TAG, blob_unit, manifest_unit, referrers_prefix, tag_path, tag_unit};

/// Largest manifest accepted (the distribution registry's limit).
pub const MAX_MANIFEST: usize = 4 << 20;
/// Largest config blob read for a manifest's labels and platform.
const MAX_CONFIG: u64 = 4 << 20;
/// Tags per page when the client names no `n`... all of them, read in pages of this size.
const TAGS_PAGE: i64 = 1000;
/// Largest `n` a client may ask for.
const MAX_N: usize = 100_000;

/// Sealed with the secrets key (see `depot_core::SEALED_SETTING`).
const SETTINGS_KEY: &str = "sealed:container.token_key";

pub struct Registry {
    pub depot: Arc<Depot>,
    keys: TokenKeys,
    /// Bearer tokens from `/token/` (Pulp's default); otherwise Basic credentials on `/v2/`.
    pub token_auth: bool,
    uploads: Sessions,
}

/// An error as the distribution spec shapes it (boxed: errors travel in every `Result`).
#[derive(Debug)]
pub struct RegError(Box<ErrorBody>);

impl std::ops::Deref for RegError {
    type Target = ErrorBody;
    fn deref(&self) -> &ErrorBody {
        &self.0
    }
}

impl std::ops::DerefMut for RegError {
    fn deref_mut(&mut self) -> &mut ErrorBody {
        &mut self.0
    }
}

#[derive(Debug)]
pub struct ErrorBody {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Value,
    challenge: Option<String>,
    headers: Vec<(header::HeaderName, String)>,
}

impl RegError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> RegError {
        RegError(Box::new(ErrorBody {
            status,
            code,
            message: message.into(),
            detail: json!({}),
            challenge: None,
            headers: Vec::new(),
        }))
    }
    fn detail(mut self, d: Value) -> RegError {
        self.detail = d;
        self
    }
    fn name_unknown(name: &str) -> RegError {
        RegError::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        )
        .detail(json!({"name": name}))
    }
    fn blob_unknown(digest: &str) -> RegError {
        RegError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .detail(json!({"digest": digest}))
    }
    fn manifest_unknown(reference: &str) -> RegError {
        RegError::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown to registry",
        )
        .detail(json!({"reference": reference}))
    }
    fn upload_unknown(uuid: &str) -> RegError {
        RegError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        )
        .detail(json!({"uuid": uuid}))
    }
    fn invalid(code: &'static str, message: impl Into<String>) -> RegError {
        RegError::new(StatusCode::BAD_REQUEST, code, message)
    }
    fn internal(e: impl std::fmt::Display) -> RegError {
        tracing::error!(error = %e, "registry error");
        RegError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            "internal error; see the server log",
        )
    }
}

impl From<depot_core::CoreError> for RegError {
    fn from(e: depot_core::CoreError) -> RegError {
        match e {
            depot_core::CoreError::TooManyRequests(m) => {
                let mut r = RegError::new(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", m);
                r.headers.push((header::RETRY_AFTER, "1".into()));
                r
            }
            depot_core::CoreError::Conflict(m) => RegError::invalid("DENIED", m),
            other => RegError::internal(other),
        }
    }
}

impl From<depot_store::StoreError> for RegError {
    fn from(e: depot_store::StoreError) -> RegError {
        RegError::internal(e)
    }
}

impl From<std::io::Error> for RegError {
    fn from(e: std::io::Error) -> RegError {
        RegError::internal(e)
    }
}

fn api_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
}

impl IntoResponse for RegError {
    fn into_response(self) -> Response {
        let e = *self.0;
        let body = json!({"errors": [{"code": e.code, "message": e.message, "detail": e.detail}]});
        let mut r = (e.status, axum::Json(body)).into_response();
        if let Some(c) = e.challenge
            && let Ok(v) = HeaderValue::from_str(&c)
        {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        for (k, v) in e.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(k, v);
            }
        }
        api_headers(&mut r);
        r
    }
}

type Reply = Result<Response, RegError>;

fn reply(status: StatusCode, headers: &[(&str, String)], body: Body) -> Response {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    let mut r = b.body(body).expect("valid response");
    api_headers(&mut r);
    r
}

/// Build the registry's routes: `/v2/…` and `/token/`.
///
/// When the token key cannot be opened (a secrets key that is not the one it was sealed with),
/// depot still starts: the registry answers 503 saying why, and the rest serves as usual.
pub async fn router(depot: Arc<Depot>, token_auth: bool) -> Result<Router, String> {
    let keys = match token_keys(&depot).await {
        Ok(k) => k,
        Err(why) if token_auth => {
            tracing::error!(error = %why, "the container registry is unavailable");
            let unavailable = move || {
                let why = why.clone();
                async move {
                    RegError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", why)
                        .into_response()
                }
            };
            return Ok(Router::new()
                .route("/token/", any(unavailable.clone()))
                .route("/token", any(unavailable.clone()))
                .route("/v2/", any(unavailable.clone()))
                .route("/v2", any(unavailable.clone()))
                .route("/v2/{*rest}", any(unavailable)));
        }
        // Basic credentials need no token key
        Err(_) => TokenKeys::from_pkcs8(&TokenKeys::generate())?,
    };
    let registry = Arc::new(Registry {
        depot,
        keys,
        token_auth,
        uploads: Sessions::default(),
    });
    {
        let r = registry.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                let n = r.uploads.reap();
                if n > 0 {
                    tracing::info!(count = n, "dropped idle blob upload sessions");
                }
            }
        });
    }
    Ok(Router::new()
        .route("/token/", get(token))
        .route("/token", get(token))
        .route("/v2/", any(base))
        .route("/v2", any(base))
        .route("/v2/{*rest}", any(dispatch))
        .with_state(registry))
}

/// The key that signs tokens, made and sealed into the database on first start.
async fn token_keys(depot: &Depot) -> Result<TokenKeys, String> {
    let stored = match depot
        .db
        .setting_get(SETTINGS_KEY)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(s) => s,
        None => {
            let sealed = depot
                .secrets
                .seal(&base64::engine::general_purpose::STANDARD.encode(TokenKeys::generate()));
            depot
                .db
                .setting_init(SETTINGS_KEY, &sealed)
                .await
                .map_err(|e| e.to_string())?
        }
    };
    let pkcs8 = depot.secrets.open(&stored).map_err(|e| {
        format!("the registry's token key cannot be opened with this secrets key: {e}")
    })?;
    let pkcs8 = base64::engine::general_purpose::STANDARD
        .decode(pkcs8.trim())
        .map_err(|e| format!("the registry's token key is damaged: {e}"))?;
    TokenKeys::from_pkcs8(&pkcs8)
}

// ---------------------------------------------------------------------------------------------
// who is asking

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(decoded).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The name clients reach the registry by (the token's audience).
fn service(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Registry {
    fn realm(&self, headers: &HeaderMap) -> String {
        let scheme = if self.depot.config.content_origin.starts_with("https:") {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/token/", service(headers))
    }

    fn challenge(&self, headers: &HeaderMap, scopes: &[String], error: Option<&str>) -> String {
        if !self.token_auth {
            return "Basic realm=\"depot registry\"".into();
        }
        let mut c = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            self.realm(headers),
            service(headers)
        );
        for s in scopes {
            c.push_str(&format!(",scope=\"{s}\""));
        }
        if let Some(e) = error {
            c.push_str(&format!(",error=\"{e}\""));
        }
        c
    }

    fn unauthorized(
        &self,
        headers: &HeaderMap,
        scopes: &[String],
        error: Option<&str>,
        message: &str,
    ) -> RegError {
        let mut e = RegError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
        e.challenge = Some(self.challenge(headers, scopes, error));
        e
    }

    async fn user_named(&self, name: &str) -> Result<Option<User>, RegError> {
        Ok(self
            .depot
            .db
            .user_by_name(name)
            .await?
            .filter(|u| u.is_active)
            .map(|u| User {
                id: u.id,
                username: u.username,
                is_superuser: u.is_superuser,
            }))
    }

    /// Check the request may do each (name, action) of `need`; returns who is asking.
    async fn authorize(
        &self,
        headers: &HeaderMap,
        need: &[(&str, &str)],
    ) -> Result<Option<User>, RegError> {
        let scopes: Vec<String> = need
            .iter()
            .map(|(n, a)| format!("repository:{n}:{a}"))
            .collect();
        if self.token_auth {
            let Some(t) = bearer(headers) else {
                return Err(self.unauthorized(headers, &scopes, None, "authentication required"));
            };
            let claims = self.verify(headers, t, &scopes)?;
            for (n, a) in need {
                if !claims.allows("repository", n, a) {
                    return Err(self.unauthorized(
                        headers,
                        &scopes,
                        Some("insufficient_scope"),
                        "insufficient permissions",
                    ));
                }
            }
            return self.token_user(headers, &claims, &scopes).await;
        }
        let user = self.basic_user(headers, &scopes).await?;
        for (n, a) in need {
            let ok = match *a {
                "push" => may_push(&self.depot, user.as_ref(), n).await?,
                _ => may_pull(&self.depot, user.as_ref(), n).await?,
            };
            if !ok {
                return Err(match user {
                    None => self.unauthorized(headers, &scopes, None, "authentication required"),
                    Some(_) => RegError::new(
                        StatusCode::FORBIDDEN,
                        "DENIED",
                        "requested access to the resource is denied",
                    ),
                });
            }
        }
        Ok(user)
    }

    fn verify(
        &self,
        headers: &HeaderMap,
        token: &str,
        scopes: &[String],
    ) -> Result<Claims, RegError> {
        self.keys
            .verify(token, &service(headers), now_secs())
            .map_err(|why| {
                tracing::debug!(why, "bearer token refused");
                self.unauthorized(
                    headers,
                    scopes,
                    Some("invalid_token"),
                    "the bearer token is invalid or expired",
                )
            })
    }

    async fn token_user(
        &self,
        headers: &HeaderMap,
        claims: &Claims,
        scopes: &[String],
    ) -> Result<Option<User>, RegError> {
        if claims.subject.is_empty() {
            return Ok(None);
        }
        match self.user_named(&claims.subject).await? {
            Some(u) => Ok(Some(u)),
            None => Err(self.unauthorized(headers, scopes, Some("invalid_token"), "no such user")),
        }
    }

    async fn basic_user(
        &self,
        headers: &HeaderMap,
        scopes: &[String],
    ) -> Result<Option<User>, RegError> {
        match basic_credentials(headers) {
            Some((u, p)) if !u.is_empty() => match self.depot.authenticate(&u, &p).await? {
                Some(user) => Ok(Some(user)),
                None => {
                    Err(self.unauthorized(headers, scopes, None, "invalid username or password"))
                }
            },
            _ => Ok(None),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /token/ and /v2/

async fn token(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    let headers = req.headers().clone();
    let query = req.uri().query().unwrap_or("").to_string();
    let mut service_param = None;
    let mut scopes = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "service" => service_param = Some(v.to_string()),
            "scope" => scopes.push(v.to_string()),
            _ => {}
        }
    }
    let detail = |status: StatusCode, d: &str| {
        let mut r = (status, axum::Json(json!({"detail": d}))).into_response();
        api_headers(&mut r);
        r
    };
    let Some(service_param) = service_param else {
        return detail(StatusCode::BAD_REQUEST, "No service name provided.");
    };
    let user = match basic_credentials(&headers) {
        Some((u, p)) if !u.is_empty() => match reg.depot.authenticate(&u, &p).await {
            Ok(Some(user)) => Some(user),
            Ok(None) => return detail(StatusCode::UNAUTHORIZED, "Invalid username/password."),
            Err(e) => return RegError::from(e).into_response(),
        },
        _ => None,
    };
    // one entry per requested scope, granted actions only; a malformed scope grants nothing
    let parsed: Option<Vec<Scope>> = scopes.iter().map(|s| Scope::parse(s)).collect();
    let mut access = Vec::new();
    for s in parsed.unwrap_or_default() {
        let mut granted: Vec<String> = Vec::new();
        if s.kind == "repository" {
            let wants = |a: &str| s.actions.iter().any(|x| x == a);
            let result: depot_core::Result<()> = async {
                if wants("push")
                    && valid_name(&s.name)
                    && may_push(&reg.depot, user.as_ref(), &s.name).await?
                {
                    granted.push("push".into());
                    granted.push("pull".into());
                } else if (wants("pull") || wants("push"))
                    && wants("pull")
                    && may_pull(&reg.depot, user.as_ref(), &s.name).await?
                {
                    granted.push("pull".into());
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                return RegError::from(e).into_response();
            }
        } else if s.kind == "registry"
            && s.name == "catalog"
            && s.actions.iter().any(|a| a == "*")
            && user.is_some()
        {
            granted.push("*".into());
        }
        access.push(Scope {
            kind: s.kind,
            name: s.name,
            actions: granted,
        });
    }
    let now = now_secs();
    let subject = user.as_ref().map(|u| u.username.as_str()).unwrap_or("");
    let t = reg
        .keys
        .issue(&reg.realm(&headers), &service_param, subject, &access, now);
    let issued = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let mut r = axum::Json(json!({
        "token": t,
        "access_token": t,
        "expires_in": crate::token::TOKEN_TTL_SECONDS,
        "issued_at": issued,
    }))
    .into_response();
    api_headers(&mut r);
    r
}

async fn base(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    let headers = req.headers();
    let ok = if reg.token_auth {
        match bearer(headers) {
            Some(t) => reg.verify(headers, t, &[]).map(|_| ()),
            None => Err(reg.unauthorized(headers, &[], None, "authentication required")),
        }
    } else {
        match reg.basic_user(headers, &[]).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(reg.unauthorized(headers, &[], None, "authentication required")),
            Err(e) => Err(e),
        }
    };
    match ok {
        Ok(()) => {
            let mut r = axum::Json(json!({})).into_response();
            api_headers(&mut r);
            r
        }
        Err(e) => e.into_response(),
    }
}

/// What a `/v2/<rest>` path names.
#[derive(Debug, PartialEq, Eq)]
enum Endpoint<'a> {
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    UploadStart(&'a str),
    Upload(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

fn route(rest: &str) -> Option<Endpoint<'_>> {
    if rest == "_catalog" {
        return Some(Endpoint::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Endpoint::Tags(name));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Endpoint::UploadStart(name));
    }
    if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
        return Some(Endpoint::Upload(name, id));
    }
    if let Some((name, r)) = rest.rsplit_once("/manifests/") {
        return Some(Endpoint::Manifest(name, r));
    }
    if let Some((name, d)) = rest.rsplit_once("/blobs/") {
        return Some(Endpoint::Blob(name, d));
    }
    if let Some((name, d)) = rest.rsplit_once("/referrers/") {
        return Some(Endpoint::Referrers(name, d));
    }
    None
}

async fn dispatch(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    match handle(&reg, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn query_pairs(req: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

async fn handle(reg: &Arc<Registry>, req: Request) -> Reply {
    let path = req.uri().path().to_string();
    let rest = path.strip_prefix("/v2/").unwrap_or_default().to_string();
    let Some(endpoint) = route(&rest) else {
        return Err(RegError::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "no such registry endpoint",
        ));
    };
    let name = match &endpoint {
        Endpoint::Catalog => "",
        Endpoint::Tags(n)
        | Endpoint::Manifest(n, _)
        | Endpoint::UploadStart(n)
        | Endpoint::Upload(n, _)
        | Endpoint::Blob(n, _)
        | Endpoint::Referrers(n, _) => n,
    };
    if endpoint != Endpoint::Catalog && !valid_name(name) {
        return Err(RegError::invalid("NAME_INVALID", "invalid repository name")
            .detail(json!({"name": name})));
    }
    let method = req.method().clone();
    let read = method == Method::GET || method == Method::HEAD;
    let headers = req.headers().clone();
    let q = query_pairs(&req);
    match endpoint {
        Endpoint::Catalog if read => catalog(reg, &headers, &q).await,
        Endpoint::Tags(n) if read => {
            reg.authorize(&headers, &[(n, "pull")]).await?;
            tags_list(reg, n, &q).await
        }
        Endpoint::Manifest(n, r) if read => {
            reg.authorize(&headers, &[(n, "pull")]).await?;
            manifest_get(reg, n, r, &headers, method == Method::HEAD).await
        }
        Endpoint::Manifest(n, r) if method == Method::PUT => {
            let user = pusher(reg, &headers, n).await?;
            manifest_put(reg, &user, n, r, req).await
        }
        Endpoint::Manifest(n, r) if method == Method::DELETE => {
            let user = pusher(reg, &headers, n).await?;
            manifest_delete(reg, &user, n, r).await
        }
        Endpoint::Blob(n, d) if read => {
            reg.authorize(&headers, &[(n, "pull")]).await?;
            blob_get(reg, n, d, &headers, method == Method::HEAD).await
        }
        Endpoint::Blob(n, d) if method == Method::DELETE => {
            let user = pusher(reg, &headers, n).await?;
            blob_delete(reg, &user, n, d).await
        }
        Endpoint::Referrers(n, d) if method == Method::GET => {
            reg.authorize(&headers, &[(n, "pull")]).await?;
            referrers(reg, n, d, &q).await
        }
        Endpoint::UploadStart(n) if method == Method::POST => upload_start(reg, n, req).await,
        Endpoint::Upload(n, id) => {
            let user = pusher(reg, &headers, n).await?;
            match method {
                Method::PATCH => upload_patch(reg, &user, n, id, req).await,
                Method::PUT => upload_put(reg, &user, n, id, req).await,
                Method::GET | Method::HEAD => upload_status(reg, &user, n, id).await,
                Method::DELETE => {
                    let s = session(reg, &user, n, id)?;
                    drop(s);
                    reg.uploads.remove(id);
                    Ok(reply(StatusCode::NO_CONTENT, &[], Body::empty()))
                }
                _ => Err(unsupported()),
            }
        }
        _ => Err(unsupported()),
    }
}

fn unsupported() -> RegError {
    RegError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "UNSUPPORTED",
        "the operation is unsupported",
    )
}

/// The pushing user (push is never anonymous).
async fn pusher(reg: &Registry, headers: &HeaderMap, name: &str) -> Result<User, RegError> {
    match reg.authorize(headers, &[(name, "push")]).await? {
        Some(u) => Ok(u),
        None => Err(reg.unauthorized(
            headers,
            &[format!("repository:{name}:push")],
            None,
            "authentication required",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// reading

/// What `name` serves, and its repository.
async fn served(reg: &Registry, name: &str) -> Result<(Arc<Source>, Option<String>), RegError> {
    let Some(d) = access::distribution(&reg.depot, name).await? else {
        return Err(RegError::name_unknown(name));
    };
    let source = reg.depot.distribution_source(&d).await?;
    Ok((source, d.repository_id.clone()))
}

/// The file at `path` of what is served, or a unit of `pulp_type` with identity `key` pushed to
/// the repository but in no version yet.
async fn find(
    reg: &Registry,
    source: &Source,
    repository: Option<&str>,
    path: &str,
    pending: Option<(&str, &str)>,
) -> Result<Option<FileSource>, RegError> {
    if let Resolution::File(f) = reg.depot.resolve(source, path).await? {
        return Ok(Some(f));
    }
    if let (Some(repo), Some((pulp_type, key))) = (repository, pending)
        && let Some(c) = reg.depot.db.content_by_key(pulp_type, key).await?
        && reg.depot.db.container_pending_has(repo, &c.id).await?
        && let Some(aid) = &c.artifact_id
        && let Some(a) = reg.depot.db.artifact_get(aid).await?
    {
        return Ok(Some(FileSource::Stored(Arc::new(StoredFile {
            size: a.size as u64,
            sha256: a.sha256,
            last_modified: a.pulp_created,
        }))));
    }
    Ok(None)
}

/// The bytes of a stored manifest (kept in memory once read).
async fn manifest_bytes(reg: &Registry, sha256: &str) -> Result<bytes::Bytes, RegError> {
    if let Some(b) = reg.depot.serving.body(sha256) {
        return Ok(b);
    }
    let b = reg.depot.blobs.read_all(sha256).await?;
    reg.depot.serving.keep_body(sha256, b.clone());
    Ok(b)
}

fn media_type_of(bytes: &[u8]) -> String {
    match manifest::parse(bytes, None) {
        Ok(p) => p.media_type,
        Err(_) => serde_json::from_slice::<Value>(bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| manifest::DOCKER_V1_SIGNED.to_string()),
    }
}

async fn manifest_get(
    reg: &Registry,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    head: bool,
) -> Reply {
    let (source, repo) = served(reg, name).await?;
    let by_digest = manifest::is_digest(reference);
    let found = if by_digest {
        if !is_sha256_digest(reference) {
            return Err(RegError::manifest_unknown(reference));
        }
        find(
            reg,
            &source,
            repo.as_deref(),
            reference,
            Some((MANIFEST, reference)),
        )
        .await?
    } else {
        find(reg, &source, None, &tag_path(reference), None).await?
    };
    let Some(FileSource::Stored(f)) = found else {
        return Err(RegError::manifest_unknown(reference));
    };
    let bytes = manifest_bytes(reg, &f.sha256).await?;
    let media_type = media_type_of(&bytes);
    if !by_digest {
        // like Pulp: no conversion, so a client that accepts none of what is stored gets 404
        let accepted: Vec<String> = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if !accepted.is_empty()
            && !accepted
                .iter()
                .any(|a| a == "*/*" || *a == media_type || a == "application/json")
        {
            return Err(RegError::manifest_unknown(reference));
        }
    }
    let digest = format!("sha256:{}", f.sha256);
    let headers = [
        ("Content-Type", media_type),
        ("Docker-Content-Digest", digest.clone()),
        ("Content-Length", bytes.len().to_string()),
        ("ETag", format!("\"{digest}\"")),
    ];
    Ok(reply(
        StatusCode::OK,
        &headers,
        if head {
            Body::empty()
        } else {
            Body::from(bytes)
        },
    ))
}

async fn blob_get(
    reg: &Registry,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Reply {
    let (source, repo) = served(reg, name).await?;
    if !is_sha256_digest(digest) {
        return Err(RegError::blob_unknown(digest));
    }
    let Some(f) = find(reg, &source, repo.as_deref(), digest, Some((BLOB, digest))).await? else {
        return Err(RegError::blob_unknown(digest));
    };
    let mut r = depot_http::content_app::send_file(
        &reg.depot,
        f,
        "application/octet-stream",
        headers,
        head,
    )
    .await?;
    r.headers_mut().remove("X-PULP-ARTIFACT-SIZE");
    if let Ok(v) = HeaderValue::from_str(digest) {
        r.headers_mut().insert("Docker-Content-Digest", v);
    }
    api_headers(&mut r);
    Ok(r)
}

/// Paths of what is served below `prefix` (after `after`), up to `limit`.
async fn paths_below(
    source: &Source,
    depot: &Depot,
    prefix: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<depot_store::content::ServedFile>, RegError> {
    let Source::Version {
        repository_id,
        number,
    } = source
    else {
        return Ok(Vec::new());
    };
    // prefixes end in '/', and '0' is the character after it
    let upper = format!("{}0", prefix.trim_end_matches('/'));
    Ok(depot
        .db
        .version_paths_between(
            repository_id,
            *number,
            &format!("{prefix}{after}"),
            &upper,
            limit,
        )
        .await?)
}

async fn tags_list(reg: &Registry, name: &str, q: &[(String, String)]) -> Reply {
    let (source, _) = served(reg, name).await?;
    let n = match param(q, "n") {
        Some(v) => Some(
            v.parse::<usize>()
                .map_err(|_| {
                    RegError::invalid(
                        "PAGINATION_NUMBER_INVALID",
                        "invalid number of results requested",
                    )
                })?
                .min(MAX_N),
        ),
        None => None,
    };
    let mut last = param(q, "last").unwrap_or("").to_string();
    let want = n.unwrap_or(usize::MAX);
    let mut tags: Vec<String> = Vec::new();
    while tags.len() < want {
        let page = (want - tags.len()).min(TAGS_PAGE as usize) as i64;
        let rows = paths_below(&source, &reg.depot, "tags/", &last, page).await?;
        let full = rows.len() as i64 == page;
        for r in rows {
            if let Some(t) = r.relative_path.strip_prefix("tags/") {
                tags.push(t.to_string());
            }
        }
        match tags.last() {
            Some(t) if full => last = t.clone(),
            _ => break,
        }
    }
    let mut headers = vec![("Content-Type", "application/json".to_string())];
    if let (Some(n), Some(l)) = (n, tags.last())
        && tags.len() == n
    {
        headers.push((
            "Link",
            format!("</v2/{name}/tags/list?n={n}&last={l}>; rel=\"next\""),
        ));
    }
    let body = json!({"name": name, "tags": tags}).to_string();
    Ok(reply(StatusCode::OK, &headers, Body::from(body)))
}

async fn referrers(reg: &Registry, name: &str, digest: &str, q: &[(String, String)]) -> Reply {
    let (source, _) = served(reg, name).await?;
    if !is_sha256_digest(digest) {
        return Err(
            RegError::invalid("DIGEST_INVALID", "invalid digest").detail(json!({"digest": digest}))
        );
    }
    let filter = param(q, "artifactType");
    let prefix = referrers_prefix(digest);
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let rows = paths_below(&source, &reg.depot, &prefix, &after, 500).await?;
        let full = rows.len() == 500;
        for r in &rows {
            let Some(sha) = &r.artifact_sha256 else {
                continue;
            };
            let bytes = manifest_bytes(reg, sha).await?;
            let Ok(p) = manifest::parse(&bytes, None) else {
                continue;
            };
            let artifact_type = p.referrer_artifact_type();
            if filter.is_some() && artifact_type.as_deref() != filter {
                continue;
            }
            let mut d = json!({"mediaType": p.media_type, "digest": format!("sha256:{sha}"), "size": bytes.len()});
            if let Some(t) = artifact_type {
                d["artifactType"] = json!(t);
            }
            if !p.annotations.is_empty() {
                d["annotations"] = Value::Object(p.annotations.clone());
            }
            out.push(d);
        }
        match rows.last() {
            Some(r) if full => after = r.relative_path[prefix.len()..].to_string(),
            _ => break,
        }
    }
    let mut headers = vec![("Content-Type", manifest::OCI_INDEX.to_string())];
    if filter.is_some() {
        headers.push(("OCI-Filters-Applied", "artifactType".to_string()));
    }
    let body = json!({"schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": out});
    Ok(reply(
        StatusCode::OK,
        &headers,
        Body::from(body.to_string()),
    ))
}

async fn catalog(reg: &Registry, headers: &HeaderMap, q: &[(String, String)]) -> Reply {
    let scope = vec!["registry:catalog:*".to_string()];
    let user = if reg.token_auth {
        let Some(t) = bearer(headers) else {
            return Err(reg.unauthorized(headers, &scope, None, "authentication required"));
        };
        let claims = reg.verify(headers, t, &scope)?;
        if !claims.allows("registry", "catalog", "*") {
            return Err(reg.unauthorized(
                headers,
                &scope,
                Some("insufficient_scope"),
                "insufficient permissions",
            ));
        }
        reg.token_user(headers, &claims, &scope).await?
    } else {
        reg.basic_user(headers, &scope).await?
    };
    let n = param(q, "n")
        .and_then(|v| v.parse::<usize>().ok())
        .map(|n| n.min(MAX_N));
    let last = param(q, "last").unwrap_or("");
    let mut names: Vec<String> = Vec::new();
    for d in reg.depot.db.distributions_all().await? {
        if d.pulp_type != crate::DISTRIBUTION_TYPE || d.base_path.as_str() <= last {
            continue;
        }
        if !access::is_private(&d) || may_pull(&reg.depot, user.as_ref(), &d.base_path).await? {
            names.push(d.base_path);
        }
    }
    names.sort();
    let mut headers = vec![("Content-Type", "application/json".to_string())];
    if let Some(n) = n {
        if names.len() > n {
            names.truncate(n);
        }
        if names.len() == n
            && let Some(l) = names.last()
        {
            headers.push((
                "Link",
                format!("</v2/_catalog?n={n}&last={l}>; rel=\"next\""),
            ));
        }
    }
    Ok(reply(
        StatusCode::OK,
        &headers,
        Body::from(json!({"repositories": names}).to_string()),
    ))
}

// ---------------------------------------------------------------------------------------------
// pushing blobs

fn upload_headers(name: &str, id: &str, size: u64) -> Vec<(&'static str, String)> {
    vec![
        ("Location", format!("/v2/{name}/blobs/uploads/{id}")),
        ("Docker-Upload-UUID", id.to_string()),
        ("Range", format!("0-{}", size.saturating_sub(1))),
        ("Content-Length", "0".to_string()),
    ]
}

fn blob_created(name: &str, digest: &str) -> Response {
    reply(
        StatusCode::CREATED,
        &[
            ("Location", format!("/v2/{name}/blobs/{digest}")),
            ("Docker-Content-Digest", digest.to_string()),
            ("Content-Length", "0".to_string()),
        ],
        Body::empty(),
    )
}

/// Append a request body to a session's blob.
async fn append(blob: &mut depot_store::TempBlob, body: Body) -> Result<(), RegError> {
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            RegError::invalid(
                "BLOB_UPLOAD_INVALID",
                format!("the request body broke off: {e}"),
            )
        })?;
        blob.write(&chunk).await?;
    }
    Ok(())
}

/// Read and drop a request body we refuse (up to a bound), so the client sees the answer
/// instead of a connection closed under it.
async fn discard(body: Body) {
    let mut left: usize = 64 << 20;
    let mut stream = body.into_data_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        if chunk.len() >= left {
            return;
        }
        left -= chunk.len();
    }
}

/// Finish a blob: its digest must be `digest`; then it is stored, recorded as a blob unit and
/// remembered as pushed to the repository.
async fn finish_blob(
    reg: &Registry,
    repository_id: &str,
    mut blob: depot_store::TempBlob,
    digest: &str,
) -> Result<(), RegError> {
    if !is_sha256_digest(digest) {
        return Err(
            RegError::invalid("DIGEST_INVALID", "only sha256 digests are supported")
                .detail(json!({"digest": digest})),
        );
    }
    let digests = blob.finish().await?;
    let expected = ExpectedDigests {
        sha256: Some(digest["sha256:".len()..].to_string()),
        ..Default::default()
    };
    if expected.verify(&digests).is_err() {
        return Err(RegError::invalid(
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
        )
        .detail(json!({"digest": digest, "actual": format!("sha256:{}", digests.sha256)})));
    }
    let _adding = reg.depot.blobs_adding().await?;
    reg.depot.blobs.commit(blob, &digests.sha256).await?;
    let artifact = match reg.depot.db.artifact_by_sha256(&digests.sha256).await? {
        Some(a) => a.id,
        None => reg.depot.db.artifact_insert(&digests).await?,
    };
    let ids = reg
        .depot
        .db
        .declare_units(&[blob_unit(digest, Some(artifact), None)], None)
        .await?;
    reg.depot
        .db
        .container_pending_add(repository_id, &ids)
        .await?;
    Ok(())
}

async fn upload_start(reg: &Arc<Registry>, name: &str, req: Request) -> Reply {
    let q = query_pairs(&req);
    let mount = param(&q, "mount").map(str::to_string);
    let from = param(&q, "from").map(str::to_string);
    let digest = param(&q, "digest").map(str::to_string);
    let user = pusher(reg, req.headers(), name).await?;
    if let (Some(m), Some(f)) = (&mount, &from)
        && valid_name(f)
        && is_sha256_digest(m)
    {
        // mounted only when the caller may pull `from` (a token must carry that scope too)
        let allowed = if reg.token_auth {
            bearer(req.headers())
                .and_then(|t| reg.keys.verify(t, &service(req.headers()), now_secs()).ok())
                .is_some_and(|c| c.allows("repository", f, "pull"))
        } else {
            may_pull(&reg.depot, Some(&user), f).await?
        };
        if allowed && let Ok((source, from_repo)) = served(reg, f).await {
            let found = find(reg, &source, from_repo.as_deref(), m, Some((BLOB, m))).await?;
            if let Some(FileSource::Stored(_)) = found
                && let Some(c) = reg.depot.db.content_by_key(BLOB, m).await?
            {
                let repo = crate::push::target(&reg.depot, &user, name).await?;
                reg.depot.db.container_pending_add(&repo, &[c.id]).await?;
                return Ok(blob_created(name, m));
            }
        }
        // otherwise an ordinary upload, as the spec asks
    }
    let repo = crate::push::target(&reg.depot, &user, name).await?;
    let blob = reg
        .depot
        .blobs
        .create_temp(&ExpectedDigests::default())
        .await?;
    if let Some(d) = digest {
        let mut blob = blob;
        append(&mut blob, req.into_body()).await?;
        finish_blob(reg, &repo, blob, &d).await?;
        return Ok(blob_created(name, &d));
    }
    let id = reg
        .uploads
        .open(Session {
            name: name.to_string(),
            repository_id: repo,
            user_id: user.id,
            blob,
            touched: std::time::Instant::now(),
        })
        .ok_or_else(|| {
            RegError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOOMANYREQUESTS",
                "too many blob uploads are open; try again later",
            )
        })?;
    Ok(reply(
        StatusCode::ACCEPTED,
        &upload_headers(name, &id, 0),
        Body::empty(),
    ))
}

fn session(
    reg: &Registry,
    user: &User,
    name: &str,
    id: &str,
) -> Result<Arc<tokio::sync::Mutex<Session>>, RegError> {
    reg.uploads
        .get(id)
        .ok_or_else(|| RegError::upload_unknown(id))
        .and_then(|s| {
            // a session belongs to its name and its pusher
            let ok = s
                .try_lock()
                .map(|g| g.name == name && g.user_id == user.id)
                .unwrap_or(true);
            if ok {
                Ok(s)
            } else {
                Err(RegError::upload_unknown(id))
            }
        })
}

/// `Content-Range: <start>-<end>` (the spec's form; `bytes ` and `/total` are tolerated).
fn content_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>, RegError> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || RegError::invalid("BLOB_UPLOAD_INVALID", "invalid Content-Range header");
    let s = v.to_str().map_err(|_| bad())?.trim();
    let s = s.strip_prefix("bytes ").unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (u64, u64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

fn range_not_satisfiable(name: &str, id: &str, size: u64) -> RegError {
    let mut e = RegError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "BLOB_UPLOAD_INVALID",
        "the chunk does not continue the upload",
    );
    for (k, v) in upload_headers(name, id, size) {
        if k == "Content-Length" {
            continue;
        }
        if let Ok(h) = header::HeaderName::from_bytes(k.as_bytes()) {
            e.headers.push((h, v));
        }
    }
    e
}

async fn upload_patch(reg: &Registry, user: &User, name: &str, id: &str, req: Request) -> Reply {
    let s = session(reg, user, name, id)?;
    let mut s = s.lock().await;
    let size = s.blob.size();
    if let Some((start, _)) = content_range(req.headers())?
        && start != size
    {
        discard(req.into_body()).await;
        return Err(range_not_satisfiable(name, id, size));
    }
    s.touched = std::time::Instant::now();
    append(&mut s.blob, req.into_body()).await?;
    s.touched = std::time::Instant::now();
    Ok(reply(
        StatusCode::ACCEPTED,
        &upload_headers(name, id, s.blob.size()),
        Body::empty(),
    ))
}

async fn upload_status(reg: &Registry, user: &User, name: &str, id: &str) -> Reply {
    let s = session(reg, user, name, id)?;
    let s = s.lock().await;
    Ok(reply(
        StatusCode::NO_CONTENT,
        &upload_headers(name, id, s.blob.size()),
        Body::empty(),
    ))
}

async fn upload_put(reg: &Registry, user: &User, name: &str, id: &str, req: Request) -> Reply {
    let q = query_pairs(&req);
    let Some(digest) = param(&q, "digest").map(str::to_string) else {
        return Err(RegError::invalid(
            "DIGEST_INVALID",
            "the digest parameter is required",
        ));
    };
    let s = session(reg, user, name, id)?;
    let mut guard = s.lock().await;
    if let Some((start, _)) = content_range(req.headers())?
        && start != guard.blob.size()
    {
        let size = guard.blob.size();
        discard(req.into_body()).await;
        return Err(range_not_satisfiable(name, id, size));
    }
    append(&mut guard.blob, req.into_body()).await?;
    // the session ends here whatever the outcome
    reg.uploads.remove(id);
    let repo = guard.repository_id.clone();
    let blob = std::mem::replace(
        &mut guard.blob,
        reg.depot
            .blobs
            .create_temp(&ExpectedDigests::default())
            .await?,
    );
    drop(guard);
    finish_blob(reg, &repo, blob, &digest).await?;
    Ok(blob_created(name, &digest))
}

// ---------------------------------------------------------------------------------------------
// pushing manifests

/// A tag as the distribution spec allows it.
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

/// A content id and its href, by identity, when in the repository (served or pending).
async fn unit_in_repository(
    reg: &Registry,
    source: &Source,
    repo: &str,
    pulp_type: &str,
    digest: &str,
) -> Result<Option<String>, RegError> {
    let Some(c) = reg.depot.db.content_by_key(pulp_type, digest).await? else {
        return Ok(None);
    };
    if c.artifact_sha256.is_none() && pulp_type == MANIFEST {
        return Ok(None);
    }
    let in_version = match source {
        Source::Version {
            repository_id,
            number,
        } if repository_id == repo => !reg
            .depot
            .db
            .version_contains(repository_id, *number, std::slice::from_ref(&c.id))
            .await?
            .is_empty(),
        _ => false,
    };
    if in_version || reg.depot.db.container_pending_has(repo, &c.id).await? {
        Ok(Some(c.id))
    } else {
        Ok(None)
    }
}

fn content_href(reg: &Registry, pulp_type: &str, id: &str) -> String {
    reg.depot
        .plugins
        .content_def(pulp_type)
        .map(|d| href::of(&d.def, id))
        .unwrap_or_default()
}

fn id_of_href(h: &str) -> Option<String> {
    h.trim_end_matches('/')
        .rsplit('/')
        .next()
        .map(str::to_string)
}

/// The blob ids a stored manifest unit names (config and layers).
fn blob_ids(data: &Map<String, Value>) -> Vec<String> {
    let mut ids: Vec<String> = data
        .get("blobs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().and_then(id_of_href))
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = data
        .get("config_blob")
        .and_then(Value::as_str)
        .and_then(id_of_href)
    {
        ids.push(c);
    }
    ids
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, RegError> {
    let mut out = bytes::BytesMut::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            RegError::invalid(
                "MANIFEST_INVALID",
                format!("the request body broke off: {e}"),
            )
        })?;
        if out.len() + chunk.len() > limit {
            // the rest is read and dropped (bounded) so the client sees the answer
            let mut left: usize = 64 << 20;
            while let Some(Ok(c)) = stream.next().await {
                if c.len() >= left {
                    break;
                }
                left -= c.len();
            }
            return Err(RegError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                format!("manifests are limited to {limit} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

async fn manifest_put(
    reg: &Registry,
    user: &User,
    name: &str,
    reference: &str,
    req: Request,
) -> Reply {
    let by_digest = manifest::is_digest(reference);
    if !by_digest && !valid_tag(reference) {
        return Err(
            RegError::invalid("TAG_INVALID", "manifest tag did not match URI")
                .detail(json!({"tag": reference})),
        );
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = read_body(req.into_body(), MAX_MANIFEST).await?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let digest = format!("sha256:{sha}");
    if by_digest && reference != digest {
        return Err(RegError::invalid(
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
        )
        .detail(json!({"digest": reference, "actual": digest})));
    }
    let parsed = manifest::parse(&bytes, content_type.as_deref()).map_err(|why| {
        RegError::invalid("MANIFEST_INVALID", why).detail(json!({"digest": digest}))
    })?;
    let repo = crate::push::target(&reg.depot, user, name).await?;
    let (source, _) = served(reg, name).await?;

    // everything it references must be in the repository already
    let mut blob_refs = Vec::new();
    for d in parsed.blob_digests() {
        match unit_in_repository(reg, &source, &repo, BLOB, &d).await? {
            Some(id) => blob_refs.push(id),
            None => {
                return Err(RegError::invalid(
                    "MANIFEST_BLOB_UNKNOWN",
                    "manifest references a manifest or blob unknown to registry",
                )
                .detail(json!({"digest": d})));
            }
        }
    }
    let mut listed = Vec::new();
    for (d, _) in &parsed.manifests {
        match unit_in_repository(reg, &source, &repo, MANIFEST, &d.digest).await? {
            Some(id) => listed.push(id),
            None => {
                return Err(RegError::invalid(
                    "MANIFEST_BLOB_UNKNOWN",
                    "manifest references a manifest or blob unknown to registry",
                )
                .detail(json!({"digest": d.digest})));
            }
        }
    }
    // labels and platform from the image's config
    let config: Option<Value> = match &parsed.config {
        Some(c) if c.size as u64 <= MAX_CONFIG => {
            let hex = &c.digest["sha256:".len()..];
            match reg.depot.blobs.read_all(hex).await {
                Ok(b) => serde_json::from_slice(&b).ok(),
                Err(_) => None,
            }
        }
        _ => None,
    };

    let _adding = reg.depot.blobs_adding().await?;
    let mut temp = reg
        .depot
        .blobs
        .create_temp(&ExpectedDigests::default())
        .await?;
    temp.write(&bytes).await?;
    let digests = temp.finish().await?;
    reg.depot.blobs.commit(temp, &sha).await?;
    let artifact = match reg.depot.db.artifact_by_sha256(&sha).await? {
        Some(a) => a.id,
        None => reg.depot.db.artifact_insert(&digests).await?,
    };
    let mut data = manifest::fields(&parsed, config.as_ref());
    let mut blob_hrefs: Vec<Value> = Vec::new();
    let mut config_href = Value::Null;
    for (i, id) in blob_refs.iter().enumerate() {
        let h = content_href(reg, BLOB, id);
        if i == 0 && parsed.config.is_some() {
            config_href = json!(h);
        } else {
            blob_hrefs.push(json!(h));
        }
    }
    data.insert("blobs".into(), Value::from(blob_hrefs));
    data.insert("config_blob".into(), config_href);
    data.insert(
        "listed_manifests".into(),
        Value::from(
            listed
                .iter()
                .map(|id| content_href(reg, MANIFEST, id))
                .collect::<Vec<_>>(),
        ),
    );
    let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
    let unit = manifest_unit(&digest, data, &artifact, subject.as_deref());
    let manifest_id = reg.depot.db.declare_units(&[unit], None).await?.remove(0);
    drop(_adding);

    if by_digest {
        reg.depot
            .db
            .container_pending_add(&repo, std::slice::from_ref(&manifest_id))
            .await?;
    } else {
        let tag = tag_unit(
            reference,
            &digest,
            &parsed.media_type,
            &content_href(reg, MANIFEST, &manifest_id),
            &artifact,
        );
        let tag_id = reg.depot.db.declare_units(&[tag], None).await?.remove(0);
        let mut add = vec![tag_id, manifest_id.clone()];
        add.extend(blob_refs);
        for id in &listed {
            add.push(id.clone());
            if let Some(c) = reg.depot.db.content_get(id).await? {
                add.extend(blob_ids(&depot_core::resources::obj(&c.data)));
            }
        }
        add.sort();
        add.dedup();
        crate::push::new_version(&reg.depot, user, &repo, &add, &[]).await?;
    }
    let mut headers = vec![
        ("Location", format!("/v2/{name}/manifests/{digest}")),
        ("Docker-Content-Digest", digest.clone()),
        ("Content-Length", "0".to_string()),
    ];
    if let Some(s) = subject {
        headers.push(("OCI-Subject", s));
    }
    Ok(reply(StatusCode::CREATED, &headers, Body::empty()))
}

async fn manifest_delete(reg: &Registry, user: &User, name: &str, reference: &str) -> Reply {
    let (source, repo) = served(reg, name).await?;
    let Some(repo) = repo else {
        return Err(RegError::name_unknown(name));
    };
    let mut remove = Vec::new();
    if manifest::is_digest(reference) {
        let Some(id) = unit_in_repository(reg, &source, &repo, MANIFEST, reference).await? else {
            return Err(RegError::manifest_unknown(reference));
        };
        remove.push(id);
        // its tags go with it
        let sha = &reference["sha256:".len()..];
        let mut after = String::new();
        loop {
            let rows = paths_below(&source, &reg.depot, "tags/", &after, 1000).await?;
            let full = rows.len() == 1000;
            for r in &rows {
                if r.artifact_sha256.as_deref() == Some(sha)
                    && let Some(t) = r.relative_path.strip_prefix("tags/")
                    && let Some(c) = reg
                        .depot
                        .db
                        .content_by_key(TAG, &format!("{t}\n{reference}"))
                        .await?
                {
                    remove.push(c.id);
                }
            }
            match rows.last() {
                Some(r) if full => after = r.relative_path["tags/".len()..].to_string(),
                _ => break,
            }
        }
    } else {
        let Some(FileSource::Stored(f)) =
            find(reg, &source, None, &tag_path(reference), None).await?
        else {
            return Err(RegError::manifest_unknown(reference));
        };
        let key = format!("{reference}\nsha256:{}", f.sha256);
        match reg.depot.db.content_by_key(TAG, &key).await? {
            Some(c) => remove.push(c.id),
            None => return Err(RegError::manifest_unknown(reference)),
        }
    }
    crate::push::new_version(&reg.depot, user, &repo, &[], &remove).await?;
    Ok(reply(
        StatusCode::ACCEPTED,
        &[("Content-Length", "0".to_string())],
        Body::empty(),
    ))
}

async fn blob_delete(reg: &Registry, user: &User, name: &str, digest: &str) -> Reply {
    let (source, repo) = served(reg, name).await?;
    let Some(repo) = repo else {
        return Err(RegError::name_unknown(name));
    };
    if !is_sha256_digest(digest) {
        return Err(RegError::blob_unknown(digest));
    }
    let Some(id) = unit_in_repository(reg, &source, &repo, BLOB, digest).await? else {
        return Err(RegError::blob_unknown(digest));
    };
    reg.depot
        .db
        .container_pending_remove(&repo, std::slice::from_ref(&id))
        .await?;
    crate::push::new_version(&reg.depot, user, &repo, &[], &[id]).await?;
    Ok(reply(
        StatusCode::ACCEPTED,
        &[("Content-Length", "0".to_string())],
        Body::empty(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_endpoint() {
        assert_eq!(route("_catalog"), Some(Endpoint::Catalog));
        assert_eq!(route("a/b/tags/list"), Some(Endpoint::Tags("a/b")));
        assert_eq!(
            route("a/b/manifests/latest"),
            Some(Endpoint::Manifest("a/b", "latest"))
        );
        assert_eq!(route("a/blobs/uploads/"), Some(Endpoint::UploadStart("a")));
        assert_eq!(route("a/blobs/uploads"), Some(Endpoint::UploadStart("a")));
        assert_eq!(
            route("a/blobs/uploads/u-1"),
            Some(Endpoint::Upload("a", "u-1"))
        );
        assert_eq!(
            route("a/blobs/sha256:00"),
            Some(Endpoint::Blob("a", "sha256:00"))
        );
        assert_eq!(
            route("a/referrers/sha256:00"),
            Some(Endpoint::Referrers("a", "sha256:00"))
        );
        assert_eq!(route("a/b"), None);
    }

    #[test]
    fn tags_follow_the_spec() {
        assert!(valid_tag("2024.1-rocky-9-20240922T102435"));
        assert!(valid_tag("_x"));
        assert!(!valid_tag("-x"));
        assert!(!valid_tag("a/b"));
        assert!(!valid_tag(&"a".repeat(129)));
    }
}
