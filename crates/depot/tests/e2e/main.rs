//! End-to-end tests: the real `depot` binary on loopback, real upstream HTTP servers, real
//! clients (pulp-cli). One test binary, one module per area.

mod access;
mod common;
mod container;
mod content_app;
mod forms;
mod lifecycle;
mod limits;
mod lists;
mod object_storage;
mod pulp_cli;
mod rpm;
mod scale;
mod sync;
mod train;
