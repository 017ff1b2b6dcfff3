//! A small client of the Pulp REST API (depot's or Pulp's own): lists with paging, lookups
//! by name, writes, and waiting for tasks with their progress.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Why a call failed, phrased for a person.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub message: String,
    /// Worth retrying: the server was unreachable, overloaded, or the task failed for a reason
    /// that usually passes (timeouts, connection errors, upstream 5xx).
    pub transient: bool,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(message: impl Into<String>) -> ApiError {
        ApiError {
            message: message.into(),
            transient: false,
        }
    }
}

/// Task errors that usually go away when tried again.
pub fn transient_task_error(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    [
        "timed out",
        "could not connect",
        "connection reset",
        "connection closed",
        "upstream returned 500",
        "upstream returned 502",
        "upstream returned 503",
        "upstream returned 504",
        "upstream returned 429",
    ]
    .iter()
    .any(|s| d.contains(s))
}

/// Progress of a running task: (message, done, total) of its reports.
pub type Progress = Vec<(String, i64, Option<i64>)>;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `http://host:port`
    origin: String,
    auth: Option<(String, String)>,
    /// How often to look at a running task.
    pub poll: Duration,
}

pub const API: &str = "/pulp/api/v3/";

impl Client {
    pub fn new(
        url: &str,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<Client, ApiError> {
        let origin = url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&origin)
            .map_err(|e| ApiError::new(format!("server url {url} is not a URL: {e}")))?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(ApiError::new(format!(
                "server url {url} must be http or https"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| ApiError::new(format!("http client: {e}")))?;
        Ok(Client {
            http,
            origin,
            auth: username.map(|u| (u.to_string(), password.unwrap_or_default().to_string())),
            poll: Duration::from_millis(500),
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A full URL for an API path (`remotes/rpm/rpm/`), an href (`/pulp/api/v3/...`) or a URL.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else if path.starts_with('/') {
            format!("{}{path}", self.origin)
        } else {
            format!("{}{API}{path}", self.origin)
        }
    }

    /// One request; non-2xx answers become errors carrying Pulp's error body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let url = self.url(path);
        let mut attempt = 0;
        loop {
            let mut req = self.http.request(method.clone(), &url);
            if let Some((u, p)) = &self.auth {
                req = req.basic_auth(u, Some(p));
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let result = req.send().await;
            let resp = match result {
                Ok(r) => r,
                Err(e) if attempt < 3 && (e.is_connect() || e.is_timeout()) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(ApiError {
                        message: format!("{method} {url}: {e}"),
                        transient: true,
                    });
                }
            };
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if status.is_success() {
                return Ok(if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).unwrap_or(Value::String(text))
                });
            }
            if status.is_server_error() && attempt < 3 && method == Method::GET {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                continue;
            }
            let detail = match status {
                StatusCode::UNAUTHORIZED => "the server refused the credentials (401)".to_string(),
                StatusCode::FORBIDDEN => format!("permission denied (403): {}", text.trim()),
                _ => format!("{} {}", status.as_u16(), text.trim()),
            };
            return Err(ApiError {
                message: format!("{method} {url}: {detail}"),
                transient: status.is_server_error(),
            });
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.call(Method::GET, path, None).await
    }

    /// Every item of a list, following `next`.
    pub async fn list(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>, ApiError> {
        let mut url = reqwest::Url::parse(&self.url(path))
            .map_err(|e| ApiError::new(format!("{path}: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
            q.append_pair("limit", "200");
        }
        let mut next = Some(url.to_string());
        let mut out = Vec::new();
        while let Some(u) = next {
            let page = self.get(&u).await?;
            out.extend(page["results"].as_array().cloned().unwrap_or_default());
            next = page["next"].as_str().map(|n| {
                // Pulp gives absolute URLs built from its own idea of its host; keep ours.
                match reqwest::Url::parse(n) {
                    Ok(parsed) => format!(
                        "{}{}{}",
                        self.origin,
                        parsed.path(),
                        parsed.query().map(|q| format!("?{q}")).unwrap_or_default()
                    ),
                    Err(_) => n.to_string(),
                }
            });
        }
        Ok(out)
    }

    /// The object of `path` (a list endpoint) called `name`, if any.
    pub async fn find(&self, path: &str, name: &str) -> Result<Option<Value>, ApiError> {
        let found = self.list(path, &[("name", name)]).await?;
        Ok(found.into_iter().find(|o| o["name"] == name))
    }

    /// POST/PATCH/DELETE that may answer with a task (202) or the object (201/200); a task is
    /// waited for. Returns the task (when there was one) or the object.
    pub async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        on_progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<Value, ApiError> {
        let answer = self.call(method, path, body).await?;
        match answer.get("task").and_then(Value::as_str) {
            Some(task) => self.wait(task, on_progress).await,
            None => Ok(answer),
        }
    }

    /// Wait for a task to finish; a failed or canceled task is an error with its reason.
    pub async fn wait(
        &self,
        task: &str,
        on_progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<Value, ApiError> {
        loop {
            let t = self.get(task).await?;
            let progress: Progress = t["progress_reports"]
                .as_array()
                .map(|reports| {
                    reports
                        .iter()
                        .map(|r| {
                            (
                                r["message"].as_str().unwrap_or_default().to_string(),
                                r["done"].as_i64().unwrap_or(0),
                                r["total"].as_i64(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            on_progress(&progress);
            match t["state"].as_str().unwrap_or_default() {
                "completed" => return Ok(t),
                "failed" => {
                    let d = t["error"]["description"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| t["error"].to_string());
                    return Err(ApiError {
                        transient: transient_task_error(&d),
                        message: d,
                    });
                }
                "canceled" | "canceling" => return Err(ApiError::new("the task was canceled")),
                _ => tokio::time::sleep(self.poll).await,
            }
        }
    }

    /// The server's components, e.g. to say which content types it offers.
    pub async fn components(&self) -> Result<Vec<String>, ApiError> {
        let status = self.get("status/").await?;
        Ok(status["versions"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|c| c["component"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// The task's created resources that live under `segment` (e.g. `/publications/`).
pub fn created(task: &Value, segment: &str) -> Vec<String> {
    task["created_resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|h| h.contains(segment))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// An empty progress callback.
pub fn quiet() -> impl FnMut(&Progress) + Send {
    |_: &Progress| {}
}

/// `{"name": ..}` plus `fields`.
pub fn named(name: &str, fields: Value) -> Value {
    let mut body = json!({"name": name});
    if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
        b.extend(f.clone());
    }
    body
}
