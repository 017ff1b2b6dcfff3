//! The content app: `/pulp/content/<base_path>/<path>`.
//!
//! Finds the distribution, asks its content guard, then serves a stored file (with
//! `Content-Length`, `Last-Modified`, `ETag`, conditional requests and single byte ranges), a
//! file still upstream (fetched on first request, see `depot_core::ondemand`), or an HTML
//! listing in Pulp's format. Errors are plain text like Pulp's (`404: Not Found`); an upstream
//! failure is a 502, never a truncated 200 that looks complete.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use depot_core::serving::{Access, FileSource, ListingEntry, Resolution, Source, check_path};
use depot_core::{CONTENT_PATH_PREFIX, Depot};

use crate::AppState;
use crate::ops::basic_credentials;

/// How long a presigned object-store URL stays valid.
const PRESIGNED_URL_TTL: std::time::Duration = std::time::Duration::from_secs(600);

fn text(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404: Not Found".into())
}

fn redirect(location: &str) -> Response {
    let mut r = text(
        StatusCode::MOVED_PERMANENTLY,
        "301: Moved Permanently".into(),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET|HEAD /pulp/content` without the slash.
pub async fn root_redirect() -> Response {
    redirect(CONTENT_PATH_PREFIX)
}

pub async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let depot = state.depot.clone();
    match serve(&depot, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "content app error");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500: Internal Server Error".into(),
            )
        }
    }
}

async fn serve(depot: &std::sync::Arc<Depot>, req: Request) -> depot_core::Result<Response> {
    let method = req.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "405: Method Not Allowed".into(),
        ));
    }
    let head = method == Method::HEAD;
    let raw = req.uri().path().to_string();
    let Some(rel_raw) = raw.strip_prefix(CONTENT_PATH_PREFIX) else {
        return Ok(not_found());
    };
    let decoded = match percent_encoding::percent_decode_str(rel_raw).decode_utf8() {
        Ok(d) => d.to_string(),
        Err(_) => {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                "400: Bad Request (path is not valid UTF-8)".into(),
            ));
        }
    };
    if let Err(why) = check_path(&decoded) {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            format!("400: Bad Request ({why})"),
        ));
    }
    let headers = req.headers().clone();

    if decoded.is_empty() {
        let names = depot.db.distribution_base_paths_under("").await?;
        return Ok(listing_page(&raw, true, &top_segments(&names, ""), head));
    }

    let Some((dist, rest)) = depot.distribution_for_path(&decoded).await? else {
        // A path above some distributions lists them.
        let prefix = format!("{}/", decoded.trim_end_matches('/'));
        let below = depot.db.distribution_base_paths_under(&prefix).await?;
        if below.is_empty() {
            return Ok(not_found());
        }
        if !decoded.ends_with('/') {
            return Ok(redirect(&format!("{raw}/")));
        }
        return Ok(listing_page(
            &prefix,
            false,
            &top_segments(&below, &prefix),
            head,
        ));
    };

    // distributions the registry serves (containers) are not files below a path
    if !depot
        .plugins
        .distribution(&dist.pulp_type)
        .is_some_and(|d| d.content_app)
    {
        return Ok(not_found());
    }

    // credentials are only checked when a guard asks for them; malformed ones count as none
    let credentials = basic_credentials(&headers).ok().flatten();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let access = depot
        .content_access(
            &dist,
            credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
            &header,
        )
        .await;
    match access {
        Err(depot_core::CoreError::TooManyRequests(why)) => {
            let mut r = text(StatusCode::TOO_MANY_REQUESTS, format!("429: {why}"));
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(r);
        }
        Err(e) => return Err(e),
        Ok(Access::Allow) => {}
        Ok(Access::Unauthenticated) => {
            let mut r = text(
                StatusCode::UNAUTHORIZED,
                "401: Authentication required".into(),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"content\""),
            );
            return Ok(r);
        }
        Ok(Access::Forbidden(reason)) => {
            return Ok(text(StatusCode::FORBIDDEN, format!("403: {reason}")));
        }
    }

    if rest.is_empty() && !decoded.ends_with('/') {
        return Ok(redirect(&format!("{raw}/")));
    }
    let source = depot.distribution_source(&dist).await?;
    if *source == Source::Nothing && dist.remote_id.is_none() {
        return Ok(text(
            StatusCode::NOT_FOUND,
            "404: Distribution is not pointing to a publication, repository, repository version, or remote.".into(),
        ));
    }
    if let Some(generated) = depot
        .plugins
        .distribution(&dist.pulp_type)
        .and_then(|d| d.generated.as_ref())
        && generated.paths.contains(&rest.as_str())
        && let Some(bytes) = (generated.make)(
            depot.clone(),
            (*dist).clone(),
            (*source).clone(),
            rest.clone(),
        )
        .await?
    {
        let len = bytes.len();
        let mut r = Response::new(if head {
            Body::empty()
        } else {
            Body::from(bytes)
        });
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(&rest)),
        );
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        return Ok(r);
    }
    Ok(match depot.resolve(&source, &rest).await? {
        Resolution::NotFound => not_found(),
        Resolution::AddSlash => redirect(&format!("{raw}/")),
        Resolution::Listing(entries) => listing_page(&raw, false, &entries, head),
        Resolution::File(f) => send_file(depot, f, content_type(&rest), &headers, head).await?,
    })
}

/// Distinct first segments of `paths` below `prefix`, as directory entries.
fn top_segments(paths: &[String], prefix: &str) -> Vec<ListingEntry> {
    let mut names: Vec<String> = paths
        .iter()
        .filter_map(|p| p.strip_prefix(prefix))
        .filter_map(|p| p.split('/').next())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| ListingEntry {
            name,
            is_dir: true,
            date: None,
            size: None,
        })
        .collect()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Jinja's `filesizeformat` (decimal units), which Pulp's listings use.
fn filesize(n: i64) -> String {
    let n = n as f64;
    if n < 1000.0 {
        return if n as i64 == 1 {
            "1 Byte".into()
        } else {
            format!("{} Bytes", n as i64)
        };
    }
    let units = ["kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = n;
    let mut unit = units[0];
    for u in units {
        value /= 1000.0;
        unit = u;
        if value < 1000.0 {
            break;
        }
    }
    format!("{value:.1} {unit}")
}

fn listing_date(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.format("%d-%b-%Y %H:%M").to_string())
        .unwrap_or_default()
}

/// Pulp's listing page, byte for byte.
fn listing_page(title: &str, root: bool, entries: &[ListingEntry], head: bool) -> Response {
    let mut body = String::new();
    body.push_str(&format!(
        "\n<html>\n<head><title>Index of {t}</title></head>\n<body bgcolor=\"white\">\n<h1>Index of {t}</h1>\n<hr><pre>",
        t = html_escape(title)
    ));
    if !root {
        body.push_str("<a href=\"../\">../</a>");
    }
    body.push('\n');
    let mut sorted: Vec<&ListingEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for e in sorted {
        let name = if e.is_dir {
            format!("{}/", e.name)
        } else {
            e.name.clone()
        };
        let esc = html_escape(&name);
        let pad = 100usize.saturating_sub(esc.chars().count());
        let date = e.date.as_deref().map(listing_date).unwrap_or_default();
        let size = e.size.map(filesize).unwrap_or_default();
        body.push_str(&format!(
            "<a href=\"./{esc}\">{esc}</a>{}{date}  {size}\n",
            " ".repeat(pad)
        ));
    }
    body.push_str("</pre><hr></body>\n</html>");
    let len = body.len();
    let mut r = if head {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body))
    };
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// Content-Type by extension, as Pulp's table has it for the common cases.
fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "gz" | "gzip" => "application/gzip",
        "bz2" => "application/x-bzip2",
        "xz" => "application/x-xz",
        "zst" | "zstd" => "application/zstd",
        "json" => "application/json",
        "txt" => "text/plain",
        "xml" => "text/xml",
        "html" | "htm" => "text/html",
        "tar" => "application/x-tar",
        "zip" => "application/zip",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "js" => "application/javascript",
        "css" => "text/css",
        "csv" => "text/csv",
        _ => "application/octet-stream",
    }
}

/// A single `bytes=a-b` range within `size`: `Ok(None)` for no (or an ignored multi-)range,
/// `Err` for an unsatisfiable one.
fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Err(());
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end: u64 = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if size == 0 || start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

fn http_date(t: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| httpdate::fmt_http_date(std::time::SystemTime::from(d)))
}

fn not_satisfiable(size: u64) -> Response {
    let mut r = text(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "416: Range Not Satisfiable".into(),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    r
}

/// Send a stored or still-remote file with `Content-Type: content_type`, honouring `Range`,
/// `If-None-Match` / `If-Modified-Since` / `If-Range` and `HEAD`; stored files come from
/// memory, a presigned object-store URL or the blob store, remote ones are fetched on demand.
pub async fn send_file(
    depot: &std::sync::Arc<Depot>,
    f: FileSource,
    content_type: &str,
    headers: &HeaderMap,
    head: bool,
) -> depot_core::Result<Response> {
    match f {
        FileSource::Stored(f) => {
            let size = f.size;
            let etag = format!("\"{}\"", f.sha256);
            let last_modified = http_date(&f.last_modified);
            let not_modified = headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
                || (headers.get(header::IF_NONE_MATCH).is_none()
                    && headers
                        .get(header::IF_MODIFIED_SINCE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| httpdate::parse_http_date(v).ok())
                        .zip(
                            last_modified
                                .as_deref()
                                .and_then(|l| httpdate::parse_http_date(l).ok()),
                        )
                        .is_some_and(|(since, modified)| modified <= since));
            let mut builder = Response::builder()
                .header(header::CONTENT_TYPE, content_type)
                .header(header::ACCEPT_RANGES, "bytes")
                .header(header::ETAG, &etag)
                .header("X-PULP-ARTIFACT-SIZE", size);
            if let Some(lm) = &last_modified {
                builder = builder.header(header::LAST_MODIFIED, lm);
            }
            if not_modified {
                return Ok(builder
                    .status(StatusCode::NOT_MODIFIED)
                    .body(Body::empty())
                    .expect("valid response"));
            }
            // If-Range: ranges only apply while the representation is unchanged.
            let range_ok = headers
                .get(header::IF_RANGE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v == etag || Some(v) == last_modified.as_deref());
            let range = if range_ok {
                match parse_range(headers, size) {
                    Ok(r) => r,
                    Err(()) => return Ok(not_satisfiable(size)),
                }
            } else {
                None
            };
            let (status, start, len) = match range {
                Some((a, b)) => {
                    builder =
                        builder.header(header::CONTENT_RANGE, format!("bytes {a}-{b}/{size}"));
                    (StatusCode::PARTIAL_CONTENT, a, b - a + 1)
                }
                None => (StatusCode::OK, 0, size),
            };
            builder = builder.status(status).header(header::CONTENT_LENGTH, len);
            if head {
                return Ok(builder.body(Body::empty()).expect("valid response"));
            }
            // small files are served from memory once read
            if let Some(bytes) = depot.serving.body(&f.sha256) {
                let part = bytes.slice(start as usize..(start + len) as usize);
                return Ok(builder.body(Body::from(part)).expect("valid response"));
            }
            // the object store serves the bytes itself, to a client the guard admitted
            if depot.config.redirect_to_object_storage {
                match depot
                    .blobs
                    .presigned_url(&f.sha256, PRESIGNED_URL_TTL)
                    .await
                {
                    Ok(Some(url)) => {
                        return Ok(Response::builder()
                            .status(StatusCode::FOUND)
                            .header(header::LOCATION, url)
                            .header(header::CACHE_CONTROL, "no-store")
                            .body(Body::empty())
                            .expect("valid response"));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(sha256 = %f.sha256, error = %e, "cannot presign a stored artifact's URL");
                        return Ok(text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "500: artifact storage unavailable".into(),
                        ));
                    }
                }
            }
            if size <= depot.serving.max_body {
                match depot.blobs.read_all(&f.sha256).await {
                    Ok(bytes) if bytes.len() as u64 == size => {
                        depot.serving.keep_body(&f.sha256, bytes.clone());
                        let part = bytes.slice(start as usize..(start + len) as usize);
                        return Ok(builder.body(Body::from(part)).expect("valid response"));
                    }
                    Ok(bytes) => {
                        tracing::error!(sha256 = %f.sha256, stored = bytes.len(), expected = size, "stored artifact has the wrong size");
                        return Ok(text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "500: artifact file damaged".into(),
                        ));
                    }
                    Err(e) => {
                        tracing::error!(sha256 = %f.sha256, error = %e, "stored artifact missing");
                        return Ok(text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "500: artifact file missing".into(),
                        ));
                    }
                }
            }
            let stream = match depot.blobs.read(&f.sha256, start, Some(len)).await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::error!(sha256 = %f.sha256, error = %e, "stored artifact missing");
                    return Ok(text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "500: artifact file missing".into(),
                    ));
                }
            };
            Ok(builder
                .body(Body::from_stream(stream))
                .expect("valid response"))
        }
        FileSource::Remote {
            content_artifact_id,
            size,
            last_modified,
        } => {
            let mut builder = Response::builder()
                .header(header::CONTENT_TYPE, content_type)
                .header(header::ACCEPT_RANGES, "bytes");
            if let Some(lm) = last_modified.as_deref().and_then(http_date) {
                builder = builder.header(header::LAST_MODIFIED, lm);
            }
            let range = match size {
                Some(s) => match parse_range(headers, s) {
                    Ok(r) => r,
                    Err(()) => return Ok(not_satisfiable(s)),
                },
                None => None,
            };
            let (status, start, end) = match (range, size) {
                (Some((a, b)), Some(s)) => {
                    builder = builder
                        .header(header::CONTENT_RANGE, format!("bytes {a}-{b}/{s}"))
                        .header(header::CONTENT_LENGTH, b - a + 1);
                    (StatusCode::PARTIAL_CONTENT, a, Some(b + 1))
                }
                (_, Some(s)) => {
                    builder = builder
                        .header(header::CONTENT_LENGTH, s)
                        .header("X-PULP-ARTIFACT-SIZE", s);
                    (StatusCode::OK, 0, None)
                }
                _ => (StatusCode::OK, 0, None),
            };
            if head {
                return Ok(builder
                    .status(status)
                    .body(Body::empty())
                    .expect("valid response"));
            }
            let (_fetch, mut reader) = match depot
                .fetch_on_demand(&content_artifact_id, start, end)
                .await
            {
                Ok(r) => r,
                Err(depot_core::CoreError::NotFound(_)) => return Ok(not_found()),
                Err(e) => return Err(e),
            };
            if let Err(msg) = reader.wait_started().await {
                return Ok(text(
                    StatusCode::BAD_GATEWAY,
                    format!("502: Bad Gateway\n{msg}\n"),
                ));
            }
            let stream = futures::stream::unfold(reader, |mut r| async move {
                match r.next_chunk().await {
                    None => None,
                    Some(Ok(b)) => Some((Ok(b), r)),
                    Some(Err(msg)) => Some((Err(std::io::Error::other(msg)), r)),
                }
            })
            .boxed();
            Ok(builder
                .status(status)
                .body(Body::from_stream(stream))
                .expect("valid response"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_jinja() {
        assert_eq!(filesize(0), "0 Bytes");
        assert_eq!(filesize(1), "1 Byte");
        assert_eq!(filesize(822), "822 Bytes");
        assert_eq!(filesize(1000), "1.0 kB");
        assert_eq!(filesize(1_500_000), "1.5 MB");
    }

    #[test]
    fn ranges() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_range(&h, 10), Ok(None));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=2-4"));
        assert_eq!(parse_range(&h, 10), Ok(Some((2, 4))));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=-3"));
        assert_eq!(parse_range(&h, 10), Ok(Some((7, 9))));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=8-"));
        assert_eq!(parse_range(&h, 10), Ok(Some((8, 9))));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=10-"));
        assert_eq!(parse_range(&h, 10), Err(()));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-1,3-4"));
        assert_eq!(parse_range(&h, 10), Ok(None));
    }

    #[test]
    fn listing_matches_pulp_layout() {
        // Pulp's root listing with one distribution is 292 bytes (a recorded response).
        let entries = top_segments(&["anchor-deb-on-demand".into()], "");
        let r = listing_page("/pulp/content/", true, &entries, false);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "292");
        // and a listing inside a distribution with two directories, 499 bytes
        let date = Some("2026-11-25T16:39:50.155135Z".to_string());
        let entries = vec![
            ListingEntry {
                name: "pool".into(),
                is_dir: true,
                date: date.clone(),
                size: None,
            },
            ListingEntry {
                name: "dists".into(),
                is_dir: true,
                date,
                size: None,
            },
        ];
        let r = listing_page(
            "/pulp/content/anchor-deb-on-demand/",
            false,
            &entries,
            false,
        );
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "499");
        let entries = top_segments(&["x/y".into(), "x/z".into()], "");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, "x");
    }
}
