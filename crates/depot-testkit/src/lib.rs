//! Test support for depot's end-to-end tests and benchmarks: a fixture upstream HTTP server
//! (`upstream`), the depot binary under test (`server`), fixture builders (`fixtures`) and
//! external client tools (`tools`).
//!
//! Everything runs for real on loopback: no mocks of depot or of the clients.

pub mod bench;
pub mod blobs;
pub mod fixtures;
pub mod oci;
pub mod rpm_fixtures;
pub mod server;
pub mod tools;
pub mod upstream;

pub use fixtures::{
    FixtureFile, file_tree, manifest_text, sha256_hex, write_bytes, write_file, write_manifest,
};
pub use server::{ADMIN_PASSWORD, DepotServer};
pub use upstream::{Fault, Upstream};
