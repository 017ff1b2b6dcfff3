//! `depot`: the binary. CLI parsing and wiring only; everything else lives in the library
//! crates (`depot-http`, `depot-core`, `depot-store` and the content types).

mod config;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use config::{Config, ServeArgs};
use depot_core::Depot;
use depot_store::lock::DataDirLock;

#[derive(Parser)]
#[command(
    name = "depot",
    version,
    about = "A Pulp-compatible content server and release pipeline for package repositories",
    long_about = "depot mirrors RPM and file repositories into immutable snapshots \
                  (repository versions), publishes them and guards who may read each one. It \
                  speaks the Pulp 3 REST API, so pulp-cli and the Pulp Ansible modules work \
                  against it."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: REST API (/pulp/api/v3/), content app (/pulp/content/) and task workers.
    ///
    /// With no configuration it uses ./depot-data (SQLite + local blob directory) and listens on
    /// 127.0.0.1:24817. Example: `depot serve --listen 0.0.0.0:24817 --data-dir /var/lib/depot`
    Serve(ServeArgs),
    /// Release-train workflows (sync, publish, promote, versions, mirror) against a depot or
    /// Pulp server, configured by train.yml.
    ///
    /// Example: `depot train sync --group epel && depot train publish`
    Train(depot_train::TrainArgs),
    /// Administration commands that work on the data directory directly.
    Admin {
        #[command(flatten)]
        common: config::CommonArgs,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Set a user's password (from --password, DEPOT_ADMIN_PASSWORD, or a generated one).
    ///
    /// Example: `depot admin reset-password --username admin --password 's3cret'`
    ResetPassword {
        #[arg(long, default_value = "admin")]
        username: String,
        #[arg(long, env = "DEPOT_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Create a user (a superuser with --superuser), optionally adding it to groups.
    ///
    /// Example: `depot admin create-user --username ci --password 's3cret-pass' --group stackhpc-dev`
    CreateUser {
        #[arg(long)]
        username: String,
        /// [default: a generated one, printed]
        #[arg(long, env = "DEPOT_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long)]
        superuser: bool,
        /// Groups to add the user to (created when missing).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Delete content in no repository version and artifacts nothing uses.
    ///
    /// Example: `depot admin orphan-cleanup --protection-time 0`
    OrphanCleanup {
        /// Only remove orphans older than this many minutes.
        #[arg(long, default_value_t = depot_core::core_tasks::ORPHAN_PROTECTION_TIME)]
        protection_time: i64,
    },
    /// Register (or replace) a signing service: a script that makes a detached, ASCII-armored
    /// signature of the file it is given (Pulp's AsciiArmoredDetachedSigningService). depot
    /// runs it once to check it works.
    ///
    /// Example: `depot admin add-signing-service metadata /usr/local/bin/sign.sh
    ///   --fingerprint 0123ABCD... --public-key key.asc`
    AddSigningService {
        name: String,
        /// Called as `<script> <file>` with PULP_SIGNING_KEY_FINGERPRINT set; prints
        /// `{"file": "<file>", "signature": "<signature file>"}`.
        script: String,
        /// Fingerprint of the signing key.
        #[arg(long)]
        fingerprint: String,
        /// The ASCII-armored public key (published as repomd.xml.key, Release.gpg's key...).
        #[arg(long)]
        public_key: std::path::PathBuf,
    },
    /// Rotate the key of the secrets stored encrypted: a new key is put first in the key
    /// file, every remote's secrets are encrypted with it, then the old key is dropped. Stop
    /// the server first; running it again after an interruption is safe.
    ///
    /// Example: `depot admin rotate-key --data-dir /var/lib/depot`
    RotateKey,
    /// Re-hash every stored artifact and report any whose bytes do not match the database.
    /// Exits with status 1 when a problem is found.
    ///
    /// Example: `depot admin check`
    Check,
    /// Copy this embedded depot (SQLite metadata, blobs in the data directory) into
    /// PostgreSQL and, with --to-blob-store, an S3 bucket: every row in one transaction,
    /// counted again on both sides, and every blob, hashed again on the way. The source is
    /// left as it was. Stop the server first; the target database must be empty. Afterwards
    /// serve with --database and --blob-store on the same data directory, which keeps
    /// secrets.key (remote passwords are encrypted with it).
    ///
    /// Example: `depot admin migrate --to-database postgres://depot@db/depot
    ///   --to-blob-store s3://depot-artifacts/prod --s3-endpoint https://s3.internal:3900`
    Migrate {
        /// The PostgreSQL database to copy the metadata into.
        #[arg(long, value_name = "URL")]
        to_database: String,
        /// The blob store to copy the blobs into (s3://BUCKET[/PREFIX], with --s3-endpoint
        /// etc.). [default: they stay in the data directory]
        #[arg(long, value_name = "URL")]
        to_blob_store: Option<String>,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEPOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,hyper=warn"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn plugins() -> Vec<depot_core::Plugin> {
    vec![
        depot_file::plugin(),
        depot_rpm::plugin(),
        depot_container::plugin(),
    ]
}

/// glibc's allocator keeps one arena per thread and rarely gives memory back; with a dozen
/// runtime threads that turns into tens of MiB of idle RSS. Two arenas, and a periodic trim,
/// keep the idle footprint near what is actually in use.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tame_allocator() {
    // SAFETY: mallopt/malloc_trim only adjust glibc's allocator; called from plain threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    std::thread::spawn(|| {
        loop {
            std::thread::sleep(Duration::from_secs(10));
            unsafe {
                libc::malloc_trim(0);
            }
        }
    });
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tame_allocator() {}

#[tokio::main]
async fn main() -> ExitCode {
    tame_allocator();
    let cli = Cli::parse();
    if let Command::Train(args) = cli.command {
        return depot_train::run(args).await;
    }
    init_logging();
    let result = match cli.command {
        Command::Train(_) => unreachable!("handled above"),
        Command::Serve(args) => serve(args).await,
        Command::Admin { common, command } => admin(common, command).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("depot: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn open(config: &Config, bound: Option<&str>) -> Result<Arc<Depot>, String> {
    Depot::open(config.core(bound), plugins())
        .await
        .map_err(|e| {
            format!(
                "cannot open data directory {}: {e}",
                config.data_dir.display()
            )
        })
}

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let config = Config::load(&args.common, Some(&args))?;
    // before anything else touches the data directory: one server per directory on the
    // embedded database (on PostgreSQL processes share it, each with its own temp files)
    let lock = match &config.database {
        Some(_) => None,
        None => Some(DataDirLock::acquire(&config.data_dir)?),
    };
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => Some(depot_http::server::tls_config(c, k)?),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key must be given together".into()),
    };
    raise_open_file_limit(config.limits.max_connections);
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| config.listen.clone());
    let depot = open(&config, Some(&addr)).await?;
    depot.recover().await.map_err(|e| e.to_string())?;
    let sealed = depot
        .seal_plaintext_secrets()
        .await
        .map_err(|e| e.to_string())?;
    if sealed > 0 {
        tracing::info!(
            remotes = sealed,
            "encrypted secrets stored in plain text by an earlier version"
        );
    }
    depot.seed_roles().await.map_err(|e| e.to_string())?;
    if let Some(pw) = depot
        .ensure_admin(config.admin_password.as_deref())
        .await
        .map_err(|e| e.to_string())?
    {
        eprintln!(
            "Created the superuser 'admin' with the generated password: {pw}\n\
             (shown once; change it with `depot admin reset-password`)"
        );
    }
    depot.announce().await.map_err(|e| e.to_string())?;
    let changes = depot.db.listen();
    let presence = depot.start_presence();
    let scheduler = config.roles.worker.then(|| depot.start_workers());
    let registry = if config.roles.content {
        depot_container::registry::router(depot.clone(), !config.registry_basic_auth).await?
    } else {
        axum::Router::new()
    };
    let app = depot_http::app_with(depot.clone(), registry);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        data_dir = %config.data_dir.display(),
        database = depot.db.backend().name(),
        blob_store = %config.blob_store.describe(),
        roles = %config.roles.names().join(","),
        content_origin = %depot.config.content_origin,
        "depot {} serving on {scheme}://{addr}/ (API {scheme}://{addr}/pulp/api/v3/, content {scheme}://{addr}/pulp/content/)",
        env!("CARGO_PKG_VERSION"),
    );

    tokio::spawn(reload_on_hangup(depot.clone(), lock));
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!(
                "stopping: no new connections; running tasks end as failed and can be run again"
            );
            shutdown.cancel();
        });
    }
    // stop accepting and let open requests finish while running tasks end
    let draining = {
        let shutdown = shutdown.clone();
        let depot = depot.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            depot.runner.stop(Duration::from_secs(20)).await;
        })
    };
    depot_http::server::serve(listener, app, tls, config.limits, shutdown).await;
    let _ = draining.await;
    if let Some(s) = scheduler {
        s.abort();
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), presence).await;
    if let Err(e) = depot.retire().await {
        tracing::error!(error = %e, "leaving the workers table failed");
    }
    if let Some(l) = changes {
        l.abort();
    }
    depot.db.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Each connection, download and open blob takes a file descriptor: make room for the
/// connection limit and more (up to the hard limit), and say so when there is not.
fn raise_open_file_limit(connections: usize) {
    let want = (connections as libc::rlim_t) * 2 + 256;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    if lim.rlim_cur < want {
        tracing::warn!(
            open_files = lim.rlim_cur,
            wanted = want,
            "the open-file limit is low for the connection limit; raise it (ulimit -n) or lower --max-connections"
        );
    }
}

/// SIGHUP: forget every cache (an admin command changed users, or an operator asks), then
/// say so in the lock file, which the admin command waits for.
async fn reload_on_hangup(depot: Arc<Depot>, mut lock: Option<DataDirLock>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!(
            "cannot listen for SIGHUP; caches reload only on this process's own changes"
        );
        return;
    };
    let mut reloads = 0;
    while hup.recv().await.is_some() {
        for topic in depot_store::Topic::ALL {
            depot.db.changed(topic);
        }
        reloads += 1;
        if let Some(lock) = lock.as_mut() {
            lock.record_reload(reloads);
        }
        tracing::info!("SIGHUP: caches reloaded");
    }
}

/// After an admin command changed users in the database of a running server, make the server
/// forget what it remembers of them, and wait until it has.
fn tell_running_server(data_dir: &std::path::Path) {
    let Some(holder) = depot_store::lock::holder(data_dir) else {
        return;
    };
    let Some(pid) = holder.pid else {
        return;
    };
    // SAFETY: kill(2) with a pid read from the lock file and a plain signal number.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) } != 0 {
        eprintln!(
            "note: could not signal the depot server (pid {pid}); it sees this change after a restart"
        );
        return;
    }
    if !depot_store::lock::wait_for_reload(data_dir, holder.reloads, Duration::from_secs(5)) {
        eprintln!("note: the depot server (pid {pid}) did not confirm it reloaded its caches");
    }
}

/// Admin commands that delete or rewrite what a running server uses need the data to
/// themselves: the data directory's lock on SQLite; on PostgreSQL no process may have
/// heartbeat recently.
async fn exclusive(
    config: &Config,
    what: &str,
    instead: &str,
) -> Result<Option<DataDirLock>, String> {
    let Some(url) = &config.database else {
        return DataDirLock::acquire(&config.data_dir)
            .map(Some)
            .map_err(|e| format!("cannot {what}: {e}. {instead}"));
    };
    let db = depot_store::Db::connect(url)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let fresh = chrono::Utc::now()
        - chrono::Duration::from_std(depot_core::tasks::GONE_AFTER).expect("short duration");
    let fresh = depot_store::format_time(fresh);
    let running: Vec<String> = db
        .workers()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|w| w.last_heartbeat >= fresh)
        .map(|w| w.name)
        .collect();
    db.close().await;
    if !running.is_empty() {
        return Err(format!(
            "cannot {what}: depot processes are running on this database ({}). {instead}",
            running.join(", ")
        ));
    }
    Ok(None)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

async fn admin(common: config::CommonArgs, command: AdminCommand) -> Result<ExitCode, String> {
    let config = Config::load(&common, None)?;
    let _lock = match &command {
        AdminCommand::OrphanCleanup { .. } => {
            exclusive(
                &config,
                "clean up orphans",
                "With the server running, use its API instead: `pulp orphan cleanup --protection-time 0`",
            )
            .await?
        }
        AdminCommand::RotateKey => {
            exclusive(
                &config,
                "rotate the key",
                "Stop the servers, rotate, then start them again",
            )
            .await?
        }
        AdminCommand::Migrate { .. } => {
            if config.database.is_some() {
                return Err(
                    "migrate copies an embedded depot (SQLite in the data directory); \
                     this configuration names another database"
                        .into(),
                );
            }
            exclusive(&config, "migrate", "Stop the server first").await?
        }
        _ => None,
    };
    let depot = open(&config, None).await?;
    match command {
        AdminCommand::ResetPassword { username, password } => {
            let (pw, generated) = match password.filter(|p| !p.is_empty()) {
                Some(p) => (p, false),
                None => (depot_core::auth::generate_password(), true),
            };
            if depot
                .db
                .user_by_name(&username)
                .await
                .map_err(|e| e.to_string())?
                .is_none()
            {
                if username == "admin" {
                    depot
                        .ensure_admin(Some(&pw))
                        .await
                        .map_err(|e| e.to_string())?;
                } else {
                    return Err(format!("no user named '{username}'"));
                }
            } else {
                depot
                    .set_password(&username, &pw)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            tell_running_server(&config.data_dir);
            depot
                .db
                .announce(depot_store::Topic::Auth)
                .await
                .map_err(|e| e.to_string())?;
            if generated {
                println!("New password for '{username}': {pw}");
            } else {
                println!("Password for '{username}' changed.");
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::CreateUser {
            username,
            password,
            superuser,
            groups,
        } => {
            let (pw, generated) = match password.filter(|p| !p.is_empty()) {
                Some(p) => (p, false),
                None => (depot_core::auth::generate_password(), true),
            };
            let id = depot
                .create_user(&username, &pw, superuser)
                .await
                .map_err(|e| format!("cannot create user '{username}': {e}"))?;
            for g in &groups {
                let gid = match depot
                    .db
                    .groups_by_names(std::slice::from_ref(g))
                    .await
                    .map_err(|e| e.to_string())?
                    .first()
                {
                    Some(row) => row.id,
                    None => depot.db.group_create(g).await.map_err(|e| e.to_string())?,
                };
                depot
                    .db
                    .group_add_user(gid, id)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            tell_running_server(&config.data_dir);
            depot
                .db
                .announce(depot_store::Topic::Auth)
                .await
                .map_err(|e| e.to_string())?;
            if generated {
                println!("Created user '{username}' with password: {pw}");
            } else {
                println!("Created user '{username}'.");
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::OrphanCleanup { protection_time } => {
            let (units, artifacts) = depot
                .cleanup_orphans(protection_time.max(0), None)
                .await
                .map_err(|e| e.to_string())?;
            println!("Removed {units} orphaned content units and {artifacts} artifacts.");
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::AddSigningService {
            name,
            script,
            fingerprint,
            public_key,
        } => {
            let key = std::fs::read_to_string(&public_key)
                .map_err(|e| format!("cannot read {}: {e}", public_key.display()))?;
            let script = std::fs::canonicalize(&script)
                .map_err(|e| format!("cannot find the script {script}: {e}"))?;
            let row = depot
                .add_signing_service(&name, &script.to_string_lossy(), &fingerprint, &key)
                .await
                .map_err(|e| format!("cannot add signing service '{name}': {e}"))?;
            println!(
                "Signing service '{name}' is {}",
                depot_core::signing::signing_service_href(&row.id)
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::RotateKey => {
            let (rows, old, new) = Depot::rotate_secret_key(&depot.db, &config.secret_key_file)
                .await
                .map_err(|e| format!("cannot rotate the key: {e}"))?;
            println!(
                "Re-encrypted the secrets of {rows} remote(s) with key {new} (was {old}); {} now holds only the new key.",
                config.secret_key_file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Check => {
            let started = std::time::Instant::now();
            let report = depot
                .check_artifacts(|r| {
                    if r.checked % 1000 == 0 {
                        eprintln!("checked {} artifacts ({} bytes)", r.checked, r.bytes);
                    }
                })
                .await
                .map_err(|e| e.to_string())?;
            for (sha, problem) in &report.problems {
                println!("CORRUPT {sha}: {problem}");
            }
            println!(
                "Checked {} artifacts ({} bytes) in {:.1} s: {} problem(s).",
                report.checked,
                report.bytes,
                started.elapsed().as_secs_f64(),
                report.problems.len()
            );
            Ok(if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AdminCommand::Migrate {
            to_database,
            to_blob_store,
        } => migrate(&config, &depot, &to_database, to_blob_store.as_deref()).await,
    }
}

/// `depot admin migrate`: blobs first (so no copied row names a missing blob), then rows.
async fn migrate(
    config: &Config,
    depot: &Depot,
    to_database: &str,
    to_blob_store: Option<&str>,
) -> Result<ExitCode, String> {
    use futures::StreamExt;
    if depot_store::db::parse_url(to_database)? != depot_store::sql::Backend::Postgres {
        return Err("--to-database must be a postgres:// URL".into());
    }
    let started = std::time::Instant::now();
    let target_blobs = match to_blob_store {
        None => None,
        Some(url) => {
            let location = config::blob_location(url, &config.s3)?;
            if location == config.blob_store {
                None
            } else {
                Some(
                    depot_store::BlobStore::open_at(&config.data_dir, &location)
                        .and_then(|b| b.for_process(&depot.process_name))
                        .map_err(|e| format!("cannot open blob store {url}: {e}"))?,
                )
            }
        }
    };
    let target = depot_store::Db::connect(to_database)
        .await
        .map_err(|e| format!("cannot open {}: {e}", redact(to_database)))?;
    let (mut blobs, mut copied, mut bytes) = (0u64, 0u64, 0u64);
    if let Some(to) = &target_blobs {
        let mut after = String::new();
        loop {
            let page = depot
                .db
                .artifacts_page(&after, 500)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last() else { break };
            after = last.0.clone();
            for (sha256, size) in page {
                blobs += 1;
                if to.exists(&sha256).await {
                    continue;
                }
                let mut temp = to
                    .create_temp(&depot_store::ExpectedDigests::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let mut stream = depot
                    .blobs
                    .read(&sha256, 0, None)
                    .await
                    .map_err(|e| format!("cannot read blob {sha256}: {e}"))?;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| format!("cannot read blob {sha256}: {e}"))?;
                    temp.write(&chunk).await.map_err(|e| e.to_string())?;
                }
                let d = temp.finish().await.map_err(|e| e.to_string())?;
                if d.sha256 != sha256 || d.size != size as u64 {
                    return Err(format!(
                        "blob {sha256} is damaged here (sha256 {}, {} bytes, expected {size}); \
                         nothing was copied into the database. Run `depot admin check`",
                        d.sha256, d.size
                    ));
                }
                to.commit(temp, &sha256)
                    .await
                    .map_err(|e| format!("cannot store blob {sha256}: {e}"))?;
                copied += 1;
                bytes += d.size;
                if copied % 1000 == 0 {
                    eprintln!("copied {copied} blobs ({bytes} bytes)");
                }
            }
        }
    }
    let tables = depot_store::migrate::copy_database(&depot.db, &target, |t| {
        eprintln!("copied {} rows of {}", t.rows, t.table)
    })
    .await
    .map_err(|e| format!("copying the database: {e}"))?;
    target.close().await;
    let rows: u64 = tables.iter().map(|t| t.rows).sum();
    println!(
        "Copied {rows} rows of {} tables{} in {:.1} s.",
        tables.len(),
        match &target_blobs {
            Some(_) =>
                format!(" and {copied} of {blobs} blobs ({bytes} bytes; the rest were there)"),
            None => String::new(),
        },
        started.elapsed().as_secs_f64()
    );
    println!(
        "Serve it with: depot serve --data-dir {} --database <URL>{}",
        config.data_dir.display(),
        if target_blobs.is_some() {
            " --blob-store <URL>"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_part = &url[scheme + 3..at];
            let user = user_part.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}
