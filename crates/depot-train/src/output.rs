//! What `depot train` prints: live progress lines on a terminal (stderr), then a summary
//! for people or, with `--json`, for machines (stdout).

use std::io::IsTerminal;

use serde_json::json;

use crate::commands::Outcome;

pub struct Reporter {
    live: bool,
}

impl Reporter {
    /// Live progress when stderr is a terminal (or `DEPOT_TRAIN_PROGRESS=1`), never with
    /// `--json` unless forced.
    pub fn new(json: bool) -> Reporter {
        let forced = std::env::var("DEPOT_TRAIN_PROGRESS").is_ok_and(|v| v == "1");
        Reporter {
            live: forced || (!json && std::io::stderr().is_terminal()),
        }
    }

    pub fn progress(&self, who: &str, what: &str) {
        if self.live {
            eprintln!("{who}: {what}");
        }
    }

    pub fn notice(&self, what: &str) {
        eprintln!("notice: {what}");
    }
}

/// Print the outcomes; returns whether all went well.
pub fn summary(command: &str, outcomes: &[Outcome], json_out: bool) -> bool {
    let failed = outcomes.iter().filter(|o| o.failed()).count();
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "command": command,
                "ok": failed == 0,
                "repositories": outcomes,
            }))
            .expect("outcomes serialize")
        );
    } else {
        let width = outcomes
            .iter()
            .map(|o| o.short_name.len())
            .max()
            .unwrap_or(0);
        let status_width = outcomes.iter().map(|o| o.status.len()).max().unwrap_or(0);
        for o in outcomes {
            println!(
                "{:width$}  {:status_width$}  {}",
                o.short_name, o.status, o.detail
            );
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        for o in outcomes {
            match counts.iter_mut().find(|(s, _)| *s == o.status) {
                Some((_, n)) => *n += 1,
                None => counts.push((o.status.clone(), 1)),
            }
        }
        let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        println!(
            "{command}: {} repositories: {}",
            outcomes.len(),
            if parts.is_empty() {
                "nothing to do".to_string()
            } else {
                parts.join(", ")
            }
        );
    }
    failed == 0
}

/// Print errors that stopped a command before it changed anything.
pub fn refusal(command: &str, errors: &[String], json_out: bool) {
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"command": command, "ok": false, "errors": errors})
            )
            .expect("errors serialize")
        );
    } else {
        for e in errors {
            eprintln!("error: {e}");
        }
        eprintln!("{command}: nothing was changed");
    }
}
