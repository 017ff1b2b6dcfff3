//! A real HTTP server on loopback serving a fixture directory, standing in for an upstream
//! repository. It counts requests per path and can be told to misbehave on a path: answer an
//! error status, stall, cut the body short, or send other bytes than the manifest declares.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;

/// How to misbehave on one path.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and no file.
    Status(u16),
    /// Wait this long before answering.
    Delay(Duration),
    /// Declare the full length but send only this many bytes, then drop the connection.
    Truncate(usize),
    /// Serve these bytes instead of the file.
    Replace(Vec<u8>),
    /// Send the body in small pieces with this pause between them.
    Slow(Duration),
}

#[derive(Default)]
struct Shared {
    root: PathBuf,
    hits: Mutex<HashMap<String, u64>>,
    faults: Mutex<HashMap<String, Fault>>,
    basic_auth: Mutex<Option<String>>,
}

/// A running fixture server. Dropping it stops the server.
pub struct Upstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Serve `root` on an ephemeral loopback port.
    pub async fn start(root: &Path) -> Upstream {
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            ..Default::default()
        });
        let app = Router::new().fallback(serve).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("upstream server");
        });
        Upstream { addr, shared, task }
    }

    /// `http://127.0.0.1:port/<path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> u64 {
        let key = format!("/{}", path.trim_start_matches('/'));
        *self.shared.hits.lock().unwrap().get(&key).unwrap_or(&0)
    }

    pub fn total_hits(&self) -> u64 {
        self.shared.hits.lock().unwrap().values().sum()
    }

    pub fn reset_hits(&self) {
        self.shared.hits.lock().unwrap().clear();
    }

    pub fn set_fault(&self, path: &str, fault: Fault) {
        let key = format!("/{}", path.trim_start_matches('/'));
        self.shared.faults.lock().unwrap().insert(key, fault);
    }

    pub fn clear_faults(&self) {
        self.shared.faults.lock().unwrap().clear();
    }

    /// Require HTTP Basic credentials on every request.
    pub fn require_basic_auth(&self, user: &str, password: &str) {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        *self.shared.basic_auth.lock().unwrap() = Some(format!("Basic {token}"));
    }
}

async fn serve(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let path = percent_decode(req.uri().path());
    *shared.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    if let Some(expected) = shared.basic_auth.lock().unwrap().clone() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            return r;
        }
    }
    let fault = shared.faults.lock().unwrap().get(&path).cloned();
    if let Some(Fault::Status(code)) = fault {
        return StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response();
    }
    if let Some(Fault::Delay(d)) = fault {
        tokio::time::sleep(d).await;
    }
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|s| s == "..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let file = shared.root.join(rel);
    let bytes = match fault {
        Some(Fault::Replace(ref b)) => b.clone(),
        _ => match tokio::fs::read(&file).await {
            Ok(b) => b,
            Err(_) => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    let len = bytes.len();
    let body = match fault {
        Some(Fault::Truncate(n)) => {
            let part = Bytes::from(bytes[..n.min(len)].to_vec());
            let stream = futures::stream::iter(vec![
                Ok(part),
                Err(std::io::Error::other("connection cut by the fixture")),
            ]);
            Body::from_stream(stream)
        }
        Some(Fault::Slow(pause)) => {
            let chunks: Vec<Bytes> = bytes.chunks(1024).map(Bytes::copy_from_slice).collect();
            let stream = futures::stream::iter(chunks).then(move |c| async move {
                tokio::time::sleep(pause).await;
                Ok::<_, std::io::Error>(c)
            });
            Body::from_stream(stream)
        }
        _ => Body::from(bytes),
    };
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
