//! The `rpm` content type: packages, advisories, module streams and comps groups of yum/dnf
//! repositories.
pub mod compress;
pub mod repomd;
pub mod xml;
pub mod packages;
pub mod modules;
pub mod records;
pub mod mirrors;
