//! `depot train ...`: arguments and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::client::Client;
use crate::commands::{self, Upstream};
use crate::config::{self, TrainConfig};
use crate::output::{self, Reporter};
use crate::pins;

/// Release-train workflows against a Pulp-compatible server (depot or Pulp).
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  depot train sync --group epel            # sync the 'epel' sync group
  depot train publish                      # snapshot every changed repository
  depot train versions > pulp-repo-versions.yml
  depot train promote --versions pulp-repo-versions.yml --check

The configuration is train.yml in the current directory (or --config FILE); DEPOT_URL,
DEPOT_USERNAME and DEPOT_PASSWORD override its server block.")]
pub struct TrainArgs {
    /// The configuration file.
    #[arg(long, global = true, default_value = "train.yml")]
    pub config: PathBuf,
    /// Print the result as JSON (for machines) instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: TrainCommand,
}

#[derive(Args, Debug, Clone)]
pub struct Select {
    /// Only repositories whose short_name or sync_group matches this regular expression
    /// (repeatable: any may match).
    #[arg(long = "filter", value_name = "REGEX")]
    pub filters: Vec<String>,
    /// Only repositories of this sync_group.
    #[arg(long)]
    pub group: Option<String>,
    /// Repositories worked on at the same time.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
}

#[derive(Subcommand, Debug)]
pub enum TrainCommand {
    /// Create or update each repository and its remote `<name>-remote`, then sync it with its
    /// policy, retrying transient failures.
    #[command(after_help = "Example:
  depot train sync --filter '^rocky_9' --group third_party --parallel 8")]
    Sync {
        #[command(flatten)]
        select: Select,
        /// Retries of a sync that failed for a transient reason (timeouts, 5xx).
        #[arg(long, default_value_t = 2)]
        retries: u32,
    },
    /// Snapshot: for each repository, publish its latest version (once) and distribute it as
    /// `<distribution_name><version>` at `<base_path><version>` with the development guard.
    /// Repositories whose latest version is already distributed get no new snapshot.
    #[command(after_help = "Example:
  depot train publish --filter docker
The version is the UTC time at the start (YYYYMMDDTHHMMSS); DEPOT_TRAIN_NOW sets it.")]
    Publish {
        #[command(flatten)]
        select: Select,
    },
    /// Give the snapshots pinned in a versions file the release guard.
    #[command(after_help = "Example:
  depot train promote --versions pulp-repo-versions.yml --check
The file holds `stackhpc_pulp_repo_<short_name>_version: <version>` lines. Every pin is
checked before anything changes.")]
    Promote {
        /// The pin file.
        #[arg(long)]
        versions: PathBuf,
        /// Print what would change; change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Print the pin file of the newest snapshot of each repository.
    #[command(after_help = "Example:
  depot train versions --only-existing ../client/pulp-repo-versions.yml > pulp-repo-versions.yml")]
    Versions {
        /// Keep only the repositories already pinned in this file.
        #[arg(long, value_name = "FILE")]
        only_existing: Option<PathBuf>,
        #[command(flatten)]
        select: Select,
    },
    /// Mirror pinned snapshots of an upstream depot/Pulp (the ark) on demand, serving each at
    /// its versioned path and at `<base_path>development` and `<base_path>production`.
    #[command(after_help = "Example:
  ARK_PASSWORD=... depot train mirror --upstream https://ark.example.invalid \\
      --upstream-username customer --versions pulp-repo-versions.yml")]
    Mirror {
        /// The upstream server's origin (its content is under <URL>/pulp/content/).
        #[arg(long)]
        upstream: String,
        /// The pin file.
        #[arg(long)]
        versions: PathBuf,
        /// User to read the upstream's content with.
        #[arg(long, env = "DEPOT_UPSTREAM_USERNAME")]
        upstream_username: Option<String>,
        /// Environment variable holding that user's password.
        #[arg(long, default_value = "ARK_PASSWORD")]
        upstream_password_env: String,
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        #[arg(long, default_value_t = 2)]
        retries: u32,
    },
}

fn now_version() -> Result<String, String> {
    match std::env::var("DEPOT_TRAIN_NOW") {
        Ok(v) if crate::pins::is_version(&v) => Ok(v),
        Ok(v) => Err(format!(
            "DEPOT_TRAIN_NOW='{v}' is not a version (YYYYMMDDTHHMMSS)"
        )),
        Err(_) => Ok(chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string()),
    }
}

fn read_pins(path: &PathBuf) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    pins::parse(&text, &path.display().to_string())
}

fn selected<'a>(cfg: &'a TrainConfig, s: &Select) -> Result<Vec<&'a config::RepoEntry>, String> {
    let filters = s
        .filters
        .iter()
        .map(|f| regex::Regex::new(f).map_err(|e| format!("--filter '{f}': {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let chosen = config::select(&cfg.repositories, &filters, s.group.as_deref());
    if chosen.is_empty() {
        return Err("no repository matches the selection".into());
    }
    Ok(chosen)
}

/// Run `depot train`.
pub async fn run(args: TrainArgs) -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    let cfg = match config::load(&args.config, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let reporter = Reporter::new(args.json);
    for n in &cfg.notices {
        reporter.notice(n);
    }
    let client = match Client::new(
        &cfg.server.url,
        cfg.server.username.as_deref(),
        cfg.server.password.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let usage = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    };
    let verdict = |ok: bool| {
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    };
    match args.command {
        TrainCommand::Sync { select, retries } => {
            let repos = match selected(&cfg, &select) {
                Ok(r) => r,
                Err(e) => return usage(e),
            };
            if let Err(e) = commands::check_components(&client, &repos).await {
                return usage(e.message);
            }
            let out = commands::sync(&client, &reporter, repos, select.parallel, retries).await;
            verdict(output::summary("sync", &out, args.json))
        }
        TrainCommand::Publish { select } => {
            let version = match now_version() {
                Ok(v) => v,
                Err(e) => return usage(e),
            };
            let repos = match selected(&cfg, &select) {
                Ok(r) => r,
                Err(e) => return usage(e),
            };
            let out =
                commands::publish(&cfg, &client, &reporter, repos, &version, select.parallel).await;
            verdict(output::summary(
                &format!("publish {version}"),
                &out,
                args.json,
            ))
        }
        TrainCommand::Promote { versions, check } => {
            let pins = match read_pins(&versions) {
                Ok(p) => p,
                Err(e) => return usage(e),
            };
            match commands::promote(&cfg, &client, &reporter, &pins, check).await {
                Ok(out) => verdict(output::summary(
                    if check { "promote --check" } else { "promote" },
                    &out,
                    args.json,
                )),
                Err(errors) => {
                    output::refusal("promote", &errors, args.json);
                    ExitCode::from(1)
                }
            }
        }
        TrainCommand::Versions {
            only_existing,
            select,
        } => {
            let repos = match selected(&cfg, &select) {
                Ok(r) => r,
                Err(e) => return usage(e),
            };
            let keep = match &only_existing {
                Some(f) => match read_pins(f) {
                    Ok(p) => Some(p.into_iter().map(|(s, _)| s).collect::<Vec<_>>()),
                    Err(e) => return usage(e),
                },
                None => None,
            };
            match commands::versions(&client, repos).await {
                Ok(mut found) => {
                    if let Some(keep) = keep {
                        found.retain(|(s, _)| keep.contains(s));
                    }
                    if args.json {
                        let map: serde_json::Map<String, serde_json::Value> = found
                            .iter()
                            .map(|(s, v)| (pins::key(s), serde_json::json!(v)))
                            .collect();
                        println!("{}", serde_json::Value::Object(map));
                    } else {
                        print!("{}", pins::render(&found));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        TrainCommand::Mirror {
            upstream,
            versions,
            upstream_username,
            upstream_password_env,
            parallel,
            retries,
        } => {
            let pins = match read_pins(&versions) {
                Ok(p) => p,
                Err(e) => return usage(e),
            };
            let up = Upstream {
                url: upstream,
                username: upstream_username,
                password: std::env::var(&upstream_password_env).ok(),
            };
            if up.username.is_some() && up.password.is_none() {
                return usage(format!(
                    "--upstream-username is set but ${upstream_password_env} holds no password"
                ));
            }
            match commands::mirror(&cfg, &client, &reporter, &up, &pins, parallel, retries).await {
                Ok(out) => verdict(output::summary("mirror", &out, args.json)),
                Err(errors) => {
                    output::refusal("mirror", &errors, args.json);
                    ExitCode::from(1)
                }
            }
        }
    }
}
