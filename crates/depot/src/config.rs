//! Configuration: command line, then environment (`DEPOT_*`), then a TOML file, then defaults.
//!
//! ```toml
//! # depot.toml
//! listen = "0.0.0.0:24817"
//! data_dir = "/var/lib/depot"
//! content_origin = "https://depot.example.internal"
//! workers = 4
//! tls_cert = "/etc/depot/cert.pem"
//! tls_key = "/etc/depot/key.pem"
//! secret_key_file = "/etc/depot/secrets.key"
//! database = "postgres://depot@db.internal/depot"   # default: SQLite in the data dir
//! roles = "api,content"                             # default: api,content,worker
//! blob_store = "s3://depot-artifacts/prod"           # default: local (artifact/ in the data dir)
//! s3_endpoint = "https://s3.example.internal:3900"   # default: AWS
//! s3_region = "garage"                               # default: us-east-1
//! s3_access_key_id = "GK..."                         # or AWS_ACCESS_KEY_ID
//! s3_secret_access_key = "..."                       # or AWS_SECRET_ACCESS_KEY
//! redirect_to_object_storage = true                  # default: false (stream through depot)
//! registry_basic_auth = true                         # default: false (Bearer tokens from /token/)
//! max_connections = 1024
//! header_timeout = 30   # seconds
//! idle_timeout = 60     # seconds
//! ```

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:24817";
pub const DEFAULT_DATA_DIR: &str = "depot-data";

/// Options every command shares.
#[derive(Args, Clone, Debug, Default)]
pub struct CommonArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "DEPOT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory: database, artifacts, temporary files. [default: ./depot-data]
    #[arg(long, env = "DEPOT_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Key file for the secrets stored encrypted (remote passwords, client keys); created
    /// when missing. Keep it apart from database backups. [default: <data dir>/secrets.key]
    #[arg(long, env = "DEPOT_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
    /// Metadata database: sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/NAME.
    /// [default: sqlite:<data dir>/depot.sqlite3]
    #[arg(
        long = "database",
        env = "DEPOT_DATABASE_URL",
        global = true,
        value_name = "URL"
    )]
    pub database: Option<String>,
    /// Where artifact bytes live: local (artifact/ in the data directory) or
    /// s3://BUCKET[/PREFIX]. Credentials come from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY or the configuration file. [default: local]
    #[arg(long, env = "DEPOT_BLOB_STORE", global = true, value_name = "URL")]
    pub blob_store: Option<String>,
    /// The S3-compatible server, e.g. http://127.0.0.1:3900. [default: AWS]
    #[arg(long, env = "DEPOT_S3_ENDPOINT", global = true, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// The bucket's region. [default: us-east-1]
    #[arg(long, env = "DEPOT_S3_REGION", global = true)]
    pub s3_region: Option<String>,
    /// Address the bucket as BUCKET.HOST instead of HOST/BUCKET (path style).
    #[arg(long, env = "DEPOT_S3_VIRTUAL_HOSTED_STYLE", global = true)]
    pub s3_virtual_hosted_style: bool,
}

#[derive(Args, Clone, Debug, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on. [default: 127.0.0.1:24817]
    #[arg(long, env = "DEPOT_LISTEN")]
    pub listen: Option<String>,
    /// Public origin of the content app, used in distributions' base_url
    /// (Pulp's CONTENT_ORIGIN). [default: the listen address]
    #[arg(long, env = "DEPOT_CONTENT_ORIGIN")]
    pub content_origin: Option<String>,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "DEPOT_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) for --tls-cert.
    #[arg(long, env = "DEPOT_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Tasks run at the same time. [default: 4]
    #[arg(long, env = "DEPOT_WORKERS")]
    pub workers: Option<usize>,
    /// Connections served at once; more wait until one closes. [default: 1024]
    #[arg(long, env = "DEPOT_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// What this process does, comma-separated: api (the REST API), content (the content
    /// app), worker (runs tasks). Several processes with different roles can share one
    /// PostgreSQL database. [default: api,content,worker]
    #[arg(long = "role", env = "DEPOT_ROLES", value_name = "ROLES")]
    pub roles: Option<String>,
    /// Seconds a client may take to send a request's headers; keep-alive connections idle
    /// this long are closed. [default: 30]
    #[arg(long, env = "DEPOT_HEADER_TIMEOUT")]
    pub header_timeout: Option<u64>,
    /// Seconds a connection may go without a byte moving while a request is under way (a
    /// client that stopped reading or sending) before it is closed. [default: 60]
    #[arg(long, env = "DEPOT_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// With an S3 blob store, answer requests for stored artifacts (once the content guard
    /// admitted them) with a redirect to a presigned URL valid for 10 minutes, instead of
    /// streaming the bytes through depot (Pulp's REDIRECT_TO_OBJECT_STORAGE).
    #[arg(long, env = "DEPOT_REDIRECT_TO_OBJECT_STORAGE")]
    pub redirect_to_object_storage: bool,
    /// The container registry (/v2/) takes Basic credentials of depot users directly,
    /// instead of Bearer tokens issued at /token/ (Pulp's TOKEN_AUTH_DISABLED).
    #[arg(long, env = "DEPOT_REGISTRY_BASIC_AUTH")]
    pub registry_basic_auth: bool,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    secret_key_file: Option<PathBuf>,
    database: Option<String>,
    content_origin: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    workers: Option<usize>,
    roles: Option<String>,
    max_connections: Option<usize>,
    header_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    blob_store: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_access_key_id: Option<String>,
    s3_secret_access_key: Option<String>,
    s3_virtual_hosted_style: Option<bool>,
    redirect_to_object_storage: Option<bool>,
    registry_basic_auth: Option<bool>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    pub secret_key_file: PathBuf,
    /// The metadata database's URL; `None`: SQLite in the data directory.
    pub database: Option<String>,
    pub blob_store: depot_store::BlobLocation,
    /// The S3 endpoint, region and credentials configured, for any s3:// URL.
    pub s3: depot_store::S3Config,
    pub redirect_to_object_storage: bool,
    /// The registry takes Basic credentials instead of Bearer tokens.
    pub registry_basic_auth: bool,
    /// `None`: the address actually bound (known once listening).
    pub content_origin: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub workers: usize,
    pub roles: depot_core::Roles,
    pub limits: depot_http::server::Limits,
    /// Password for the first superuser, from DEPOT_ADMIN_PASSWORD.
    pub admin_password: Option<String>,
}

/// A blob store URL with the configured S3 endpoint, region and credentials.
pub fn blob_location(
    url: &str,
    s3: &depot_store::S3Config,
) -> Result<depot_store::BlobLocation, String> {
    Ok(match depot_store::BlobLocation::parse(url)? {
        depot_store::BlobLocation::S3(c) => {
            if s3.access_key_id.is_none() || s3.secret_access_key.is_none() {
                return Err(format!(
                    "blob store {url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                     (or s3_access_key_id and s3_secret_access_key in the configuration file)"
                ));
            }
            depot_store::BlobLocation::S3(depot_store::S3Config {
                bucket: c.bucket,
                prefix: c.prefix,
                ..s3.clone()
            })
        }
        local => local,
    })
}

impl Config {
    pub fn load(common: &CommonArgs, serve: Option<&ServeArgs>) -> Result<Config, String> {
        let file: FileConfig = match &common.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let serve = serve.cloned().unwrap_or_default();
        let listen = serve
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let tls_cert = serve.tls_cert.or(file.tls_cert);
        let tls_key = serve.tls_key.or(file.tls_key);
        let content_origin = serve
            .content_origin
            .or(file.content_origin)
            .map(|o| o.trim_end_matches('/').to_string());
        let data_dir = common
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let s3 = {
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            depot_store::S3Config {
                endpoint: common.s3_endpoint.clone().or(file.s3_endpoint),
                region: common.s3_region.clone().or(file.s3_region),
                access_key_id: env("AWS_ACCESS_KEY_ID").or(file.s3_access_key_id),
                secret_access_key: env("AWS_SECRET_ACCESS_KEY").or(file.s3_secret_access_key),
                virtual_hosted_style: common.s3_virtual_hosted_style
                    || file.s3_virtual_hosted_style.unwrap_or(false),
                ..Default::default()
            }
        };
        let blob_store = match common.blob_store.clone().or(file.blob_store) {
            None => depot_store::BlobLocation::Local,
            Some(url) => blob_location(&url, &s3)?,
        };
        let redirect_to_object_storage =
            serve.redirect_to_object_storage || file.redirect_to_object_storage.unwrap_or(false);
        if redirect_to_object_storage && blob_store == depot_store::BlobLocation::Local {
            return Err(
                "redirect_to_object_storage needs an S3 blob store (--blob-store s3://...)".into(),
            );
        }
        Ok(Config {
            listen,
            blob_store,
            s3,
            redirect_to_object_storage,
            registry_basic_auth: serve.registry_basic_auth
                || file.registry_basic_auth.unwrap_or(false),
            secret_key_file: common
                .secret_key_file
                .clone()
                .or(file.secret_key_file)
                .unwrap_or_else(|| data_dir.join("secrets.key")),
            database: match common.database.clone().or(file.database) {
                Some(url) => {
                    depot_store::db::parse_url(&url)?;
                    Some(url)
                }
                None => None,
            },
            data_dir,
            content_origin,
            tls_cert,
            tls_key,
            workers: serve.workers.or(file.workers).unwrap_or(4).max(1),
            roles: match serve.roles.as_deref().or(file.roles.as_deref()) {
                Some(r) => depot_core::Roles::parse(r)?,
                None => depot_core::Roles::default(),
            },
            limits: {
                let d = depot_http::server::Limits::default();
                let secs = |v: Option<u64>, default: std::time::Duration| {
                    v.map(|s| std::time::Duration::from_secs(s.max(1)))
                        .unwrap_or(default)
                };
                depot_http::server::Limits {
                    max_connections: serve
                        .max_connections
                        .or(file.max_connections)
                        .unwrap_or(d.max_connections)
                        .max(1),
                    header_timeout: secs(
                        serve.header_timeout.or(file.header_timeout),
                        d.header_timeout,
                    ),
                    idle_timeout: secs(serve.idle_timeout.or(file.idle_timeout), d.idle_timeout),
                }
            },
            admin_password: std::env::var("DEPOT_ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty()),
        })
    }

    /// The domain's configuration; `bound` is the address the server listens on, the
    /// default content origin.
    pub fn core(&self, bound: Option<&str>) -> depot_core::Config {
        let scheme = if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let origin = self.content_origin.clone().unwrap_or_else(|| {
            let addr = bound
                .unwrap_or(&self.listen)
                .replace("0.0.0.0", "127.0.0.1");
            format!("{scheme}://{addr}")
        });
        depot_core::Config {
            data_dir: self.data_dir.clone(),
            content_origin: origin,
            workers: self.workers,
            secret_key_file: self.secret_key_file.clone(),
            database: self.database.clone(),
            roles: self.roles,
            blob_store: self.blob_store.clone(),
            redirect_to_object_storage: self.redirect_to_object_storage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_beats_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("depot.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/depot\"\nworkers = 7\n",
        )
        .unwrap();
        let common = CommonArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let serve = ServeArgs {
            common: common.clone(),
            listen: Some("127.0.0.1:1234".into()),
            ..Default::default()
        };
        let c = Config::load(&common, Some(&serve)).unwrap();
        assert_eq!(c.listen, "127.0.0.1:1234");
        assert_eq!(c.data_dir, PathBuf::from("/srv/depot"));
        assert_eq!(c.secret_key_file, PathBuf::from("/srv/depot/secrets.key"));
        assert_eq!(c.workers, 7);
        // the content origin defaults to the address actually bound
        assert_eq!(
            c.core(Some("127.0.0.1:5555")).content_origin,
            "http://127.0.0.1:5555"
        );

        let c = Config::load(&CommonArgs::default(), None).unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("depot.toml");
        std::fs::write(&file, "listne = \"x\"\n").unwrap();
        let common = CommonArgs {
            config: Some(file),
            ..Default::default()
        };
        let err = Config::load(&common, None).unwrap_err();
        assert!(err.contains("listne"), "{err}");
    }
}
