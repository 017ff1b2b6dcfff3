//! Integrity check: every stored artifact's bytes against the digest and size recorded for it.

use crate::Depot;
use crate::error::Result;

#[derive(Debug, Default)]
pub struct CheckReport {
    pub checked: u64,
    pub bytes: u64,
    /// (sha256, what is wrong)
    pub problems: Vec<(String, String)>,
}

impl Depot {
    /// Re-hash every artifact's blob. `progress` is called after each artifact.
    pub async fn check_artifacts(
        &self,
        mut progress: impl FnMut(&CheckReport),
    ) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let mut after = String::new();
        loop {
            let page = self.db.artifacts_page(&after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.0.clone();
            for (sha256, size) in page {
                match self.blobs.hash_stored(&sha256).await {
                    Ok(d) => {
                        report.bytes += d.size;
                        if d.sha256 != sha256 {
                            report.problems.push((
                                sha256.clone(),
                                format!("content does not match: its sha256 is now {}", d.sha256),
                            ));
                        } else if d.size != size as u64 {
                            report.problems.push((
                                sha256.clone(),
                                format!("size is {} bytes, expected {size}", d.size),
                            ));
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        report
                            .problems
                            .push((sha256.clone(), "blob file is missing".into()));
                    }
                    Err(e) => report
                        .problems
                        .push((sha256.clone(), format!("cannot read: {e}"))),
                }
                report.checked += 1;
                progress(&report);
            }
        }
        Ok(report)
    }
}
