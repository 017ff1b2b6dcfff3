//! Downloading from upstream with a remote's settings: credentials, proxy, TLS options,
//! timeouts, retries with backoff, rate limit, and digest verification while streaming.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::Mutex;

use depot_store::records::RemoteRow;
use depot_store::secrets::SecretBox;
use depot_store::{BlobStore, Digests, ExpectedDigests, TempBlob};

/// Pulp's defaults.
pub const DEFAULT_DOWNLOAD_CONCURRENCY: usize = 10;
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Why a download failed, phrased for a person ("upstream returned 404 for <url>").
#[derive(Debug, Clone)]
pub struct DownloadError {
    pub url: String,
    pub message: String,
    /// Worth trying again (connection problems, timeouts, 5xx, 429).
    pub retryable: bool,
    /// The upstream answered with this status.
    pub status: Option<u16>,
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DownloadError {}

impl DownloadError {
    fn new(url: &str, message: String, retryable: bool) -> DownloadError {
        DownloadError {
            url: url.to_string(),
            message,
            retryable,
            status: None,
        }
    }

    fn from_reqwest(url: &str, e: reqwest::Error) -> DownloadError {
        let what = if e.is_timeout() {
            format!("timed out downloading {url}")
        } else if e.is_connect() {
            format!("could not connect to {url}: {}", root_cause(&e))
        } else {
            format!("downloading {url} failed: {}", root_cause(&e))
        };
        DownloadError::new(url, what, true)
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The settings of a remote that shape its HTTP client. Its `Debug` never shows the secrets.
#[derive(Clone, Default)]
pub struct RemoteSettings {
    pub username: Option<String>,
    pub password: Option<String>,
    pub proxy_url: Option<String>,
    pub proxy_username: Option<String>,
    pub proxy_password: Option<String>,
    pub ca_cert: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub tls_validation: bool,
    pub headers: Vec<(String, String)>,
    pub max_retries: u32,
    pub total_timeout: Option<f64>,
    pub connect_timeout: Option<f64>,
    pub sock_connect_timeout: Option<f64>,
    pub sock_read_timeout: Option<f64>,
    pub download_concurrency: usize,
    pub rate_limit: Option<u32>,
}

impl std::fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("RemoteSettings")
            .field("username", &set(&self.username))
            .field("password", &set(&self.password))
            .field("proxy_url", &self.proxy_url)
            .field("proxy_username", &set(&self.proxy_username))
            .field("proxy_password", &set(&self.proxy_password))
            .field("client_key", &set(&self.client_key))
            .field("tls_validation", &self.tls_validation)
            .field("download_concurrency", &self.download_concurrency)
            .finish_non_exhaustive()
    }
}

impl RemoteSettings {
    /// The settings of `row`, with its `secrets` decrypted.
    pub fn from_row(row: &RemoteRow, secrets: &Value) -> RemoteSettings {
        let settings: Value = serde_json::from_str(&row.settings).unwrap_or(Value::Null);
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let f = |k: &str| settings.get(k).and_then(Value::as_f64);
        let headers = settings
            .get("headers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_object)
                    .flat_map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    })
                    .collect()
            })
            .unwrap_or_default();
        RemoteSettings {
            username: s(secrets, "username"),
            password: s(secrets, "password"),
            proxy_url: s(&settings, "proxy_url"),
            proxy_username: s(secrets, "proxy_username"),
            proxy_password: s(secrets, "proxy_password"),
            ca_cert: s(&settings, "ca_cert"),
            client_cert: s(&settings, "client_cert"),
            client_key: s(secrets, "client_key"),
            tls_validation: settings
                .get("tls_validation")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            headers,
            max_retries: settings
                .get("max_retries")
                .and_then(Value::as_u64)
                .map(|v| v as u32)
                .unwrap_or(DEFAULT_MAX_RETRIES),
            total_timeout: f("total_timeout"),
            connect_timeout: f("connect_timeout"),
            sock_connect_timeout: f("sock_connect_timeout"),
            sock_read_timeout: f("sock_read_timeout"),
            download_concurrency: settings
                .get("download_concurrency")
                .and_then(Value::as_u64)
                .map(|v| v.max(1) as usize)
                .unwrap_or(DEFAULT_DOWNLOAD_CONCURRENCY),
            rate_limit: settings
                .get("rate_limit")
                .and_then(Value::as_u64)
                .filter(|v| *v > 0)
                .map(|v| v as u32),
        }
    }
}

/// An HTTP client configured for one remote.
#[derive(Debug)]
pub struct Downloader {
    client: reqwest::Client,
    settings: RemoteSettings,
    next_slot: Option<Mutex<tokio::time::Instant>>,
}

fn secs(v: Option<f64>) -> Option<Duration> {
    v.filter(|s| *s > 0.0).map(Duration::from_secs_f64)
}

impl Downloader {
    pub fn new(settings: RemoteSettings) -> Result<Downloader, String> {
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("depot/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(settings.download_concurrency.max(4))
            .read_timeout(secs(settings.sock_read_timeout).unwrap_or(Duration::from_secs(300)))
            .connect_timeout(
                secs(settings.sock_connect_timeout)
                    .into_iter()
                    .chain(secs(settings.connect_timeout))
                    .min()
                    .unwrap_or(Duration::from_secs(60)),
            );
        if let Some(t) = secs(settings.total_timeout) {
            b = b.timeout(t);
        }
        if !settings.tls_validation {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(pem) = &settings.ca_cert {
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| format!("ca_cert is not a valid PEM certificate: {e}"))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        if let Some(cert) = &settings.client_cert {
            let key = settings
                .client_key
                .as_deref()
                .ok_or("client_cert is set but client_key is not")?;
            let identity = reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes())
                .map_err(|e| format!("client_cert/client_key are not a valid PEM pair: {e}"))?;
            b = b.identity(identity);
        }
        match &settings.proxy_url {
            Some(p) => {
                let mut proxy =
                    reqwest::Proxy::all(p).map_err(|e| format!("invalid proxy_url: {e}"))?;
                if let Some(u) = &settings.proxy_username {
                    proxy = proxy.basic_auth(u, settings.proxy_password.as_deref().unwrap_or(""));
                }
                b = b.proxy(proxy);
            }
            // Upstreams are reached directly unless a proxy is configured on the remote.
            None => b = b.no_proxy(),
        }
        let client = b
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        let next_slot = settings
            .rate_limit
            .map(|_| Mutex::new(tokio::time::Instant::now()));
        Ok(Downloader {
            client,
            settings,
            next_slot,
        })
    }

    pub fn from_remote(row: &RemoteRow, secrets: &SecretBox) -> Result<Downloader, String> {
        let plain = secrets
            .open(&row.secrets)
            .map_err(|e| format!("cannot read the secrets of remote '{}': {e}", row.name))?;
        let secrets: Value = serde_json::from_str(&plain).unwrap_or(Value::Null);
        Downloader::new(RemoteSettings::from_row(row, &secrets))
    }

    pub fn concurrency(&self) -> usize {
        self.settings.download_concurrency
    }

    pub fn settings(&self) -> &RemoteSettings {
        &self.settings
    }

    async fn wait_rate_limit(&self) {
        if let (Some(slot), Some(rate)) = (&self.next_slot, self.settings.rate_limit) {
            let mut next = slot.lock().await;
            let now = tokio::time::Instant::now();
            if *next > now {
                tokio::time::sleep_until(*next).await;
            }
            *next = (*next).max(now) + Duration::from_secs_f64(1.0 / rate as f64);
        }
    }

    /// One GET with the remote's headers and `extra` ones, authenticated with `bearer` when
    /// given (else the remote's Basic credentials); answers of any status are returned, for
    /// protocols that negotiate (a registry's Bearer challenge).
    pub async fn send(
        &self,
        url: &str,
        extra: &[(&str, &str)],
        bearer: Option<&str>,
    ) -> Result<reqwest::Response, DownloadError> {
        self.wait_rate_limit().await;
        let mut req = self.client.get(url);
        for (k, v) in &self.settings.headers {
            req = req.header(k, v);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        match bearer {
            Some(t) => req = req.bearer_auth(t),
            None => {
                if let Some(u) = &self.settings.username {
                    req = req.basic_auth(u, self.settings.password.as_deref());
                }
            }
        }
        req.send()
            .await
            .map_err(|e| DownloadError::from_reqwest(url, e))
    }

    /// One GET with the remote's credentials and headers; non-2xx answers are errors.
    pub async fn get(&self, url: &str) -> Result<reqwest::Response, DownloadError> {
        self.wait_rate_limit().await;
        let mut req = self.client.get(url);
        for (k, v) in &self.settings.headers {
            req = req.header(k, v);
        }
        if let Some(u) = &self.settings.username {
            req = req.basic_auth(u, self.settings.password.as_deref());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| DownloadError::from_reqwest(url, e))?;
        let status = resp.status();
        if !status.is_success() {
            let code = status.as_u16();
            return Err(DownloadError {
                url: url.to_string(),
                message: format!("upstream returned {code} for {url}"),
                retryable: code >= 500 || code == 429 || code == 408,
                status: Some(code),
            });
        }
        Ok(resp)
    }

    /// Download `url` into a new temp blob, verifying `expected` while streaming; retries
    /// transient failures with exponential backoff. The blob is not committed.
    pub async fn download(
        &self,
        blobs: &BlobStore,
        url: &str,
        expected: &ExpectedDigests,
    ) -> Result<(TempBlob, Digests), DownloadError> {
        let mut attempt = 0;
        loop {
            match self.download_once(blobs, url, expected).await {
                Ok(r) => return Ok(r),
                Err(e) if e.retryable && attempt < self.settings.max_retries => {
                    let delay = Duration::from_millis(250 * (1 << attempt.min(5)));
                    tracing::debug!(url, error = %e, ?delay, "retrying download");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn download_once(
        &self,
        blobs: &BlobStore,
        url: &str,
        expected: &ExpectedDigests,
    ) -> Result<(TempBlob, Digests), DownloadError> {
        let resp = self.get(url).await?;
        if let (Some(want), Some(got)) = (expected.size, resp.content_length())
            && want != got
        {
            return Err(DownloadError::new(
                url,
                format!("{url}: size mismatch: expected {want} bytes, upstream sends {got}"),
                false,
            ));
        }
        let io_err = |e: std::io::Error| {
            DownloadError::new(url, format!("storing {url} failed: {e}"), false)
        };
        let mut blob = blobs.create_temp(expected).await.map_err(io_err)?;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| DownloadError::from_reqwest(url, e))?;
            blob.write(&chunk).await.map_err(io_err)?;
            if let Some(want) = expected.size
                && blob.size() > want
            {
                return Err(DownloadError::new(
                    url,
                    format!("{url}: size mismatch: expected {want} bytes, got more"),
                    false,
                ));
            }
        }
        let digests = blob.finish().await.map_err(io_err)?;
        expected
            .verify(&digests)
            .map_err(|m| DownloadError::new(url, format!("{url}: {m}"), false))?;
        Ok((blob, digests))
    }
}

/// Downloaders cached per remote, rebuilt when the remote changes (building one loads the
/// system's CA certificates, which is too slow to repeat per request).
#[derive(Debug)]
pub struct DownloaderCache {
    map: std::sync::Mutex<std::collections::HashMap<String, (String, Arc<Downloader>)>>,
    secrets: Arc<SecretBox>,
}

impl DownloaderCache {
    pub fn new(secrets: Arc<SecretBox>) -> DownloaderCache {
        DownloaderCache {
            map: Default::default(),
            secrets,
        }
    }

    pub fn get(&self, remote: &RemoteRow) -> Result<Arc<Downloader>, String> {
        let mut map = self.map.lock().unwrap();
        if let Some((stamp, d)) = map.get(&remote.id)
            && *stamp == remote.pulp_last_updated
        {
            return Ok(d.clone());
        }
        let d = Arc::new(Downloader::from_remote(remote, &self.secrets)?);
        map.insert(
            remote.id.clone(),
            (remote.pulp_last_updated.clone(), d.clone()),
        );
        Ok(d)
    }
}

/// Resolve `relative` against the URL of a metadata file (the manifest, repomd.xml...),
/// percent-encoding each path segment.
pub fn join_url(base: &str, relative: &str) -> Result<String, String> {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const SEGMENT: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'%');
    let base = reqwest::Url::parse(base).map_err(|e| format!("invalid URL {base}: {e}"))?;
    let encoded: Vec<String> = relative
        .split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect();
    base.join(&encoded.join("/"))
        .map(|u| u.to_string())
        .map_err(|e| format!("cannot join {relative} to {base}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_relative_paths_next_to_the_manifest() {
        assert_eq!(
            join_url("http://h/files/PULP_MANIFEST", "a/b c#1.txt").unwrap(),
            "http://h/files/a/b%20c%231.txt"
        );
        assert_eq!(
            join_url("http://h/files/", "x.iso").unwrap(),
            "http://h/files/x.iso"
        );
    }

    #[test]
    fn settings_come_from_settings_and_secrets() {
        let row = RemoteRow {
            id: "r".into(),
            pulp_type: "file.file".into(),
            name: "n".into(),
            url: "http://h/".into(),
            policy: "immediate".into(),
            pulp_labels: "{}".into(),
            settings: r#"{"download_concurrency": 3, "headers": [{"X-A": "1"}], "tls_validation": false, "max_retries": 0}"#.into(),
            secrets: r#"{"username": "u", "password": "p"}"#.into(),
            extra: "{}".into(),
            pulp_created: String::new(),
            pulp_last_updated: String::new(),
        };
        let secrets = serde_json::json!({"username": "u", "password": "p"});
        let s = RemoteSettings::from_row(&row, &secrets);
        let shown = format!("{s:?}");
        assert!(!shown.contains("\"p\""), "secrets are never shown: {shown}");
        assert_eq!(s.download_concurrency, 3);
        assert_eq!(s.max_retries, 0);
        assert!(!s.tls_validation);
        assert_eq!(s.headers, vec![("X-A".to_string(), "1".to_string())]);
        assert_eq!(s.username.as_deref(), Some("u"));
        assert!(Downloader::new(s).is_ok());
    }
}
