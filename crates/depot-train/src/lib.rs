//! `depot train`: the release-train workflows (sync, publish, promote, versions, mirror) as one
//! command-line tool. It is a client of the Pulp REST API only, so it drives a depot server
//! and a Pulp server alike.

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod output;
pub mod pins;

pub use cli::{TrainArgs, run};
