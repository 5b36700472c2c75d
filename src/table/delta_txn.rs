//! [`TxnVersions`]: the `txn` versions a Delta sink has read or written,
//! kept while the table stays at the version they hold at.

use std::collections::HashMap;

/// `txn` versions by app id, exact at one table version. delta-rs finds
/// an app id's version by reading the log backwards to its last commit (to
/// the last checkpoint, and the checkpoint itself, for an app id never
/// committed): with many source partitions committing in turn, dozens of
/// log entries per lookup, two lookups per group. The log at a version
/// never changes, so what was read at it, and what this sink committed on
/// top of it, stay exact until another writer commits.
#[derive(Debug, Default)]
pub(super) struct TxnVersions {
    /// The table version the entries hold at.
    at: Option<u64>,
    versions: HashMap<String, Option<i64>>,
}

impl TxnVersions {
    /// The version of `app_id` at table version `at`, when known; what was
    /// known at another version is forgotten.
    pub(super) fn get(&mut self, at: Option<u64>, app_id: &str) -> Option<Option<i64>> {
        if self.at != at {
            self.at = at;
            self.versions.clear();
        }
        self.versions.get(app_id).copied()
    }

    /// Keeps what a lookup at table version `at` found.
    pub(super) fn found(&mut self, at: Option<u64>, app_id: &str, version: Option<i64>) {
        if self.at == at {
            self.versions.insert(app_id.to_string(), version);
        }
    }

    /// This sink made table version `version` from version `parent`,
    /// setting each app id of `txns` to its version. A commit that landed
    /// further on (another writer's commit in between) keeps only its own
    /// entries.
    pub(super) fn committed(&mut self, parent: Option<u64>, version: u64, txns: &[(String, i64)]) {
        let on_top =
            self.at.is_some() && self.at == parent && parent.map(|p| p + 1) == Some(version);
        if !on_top {
            self.versions.clear();
        }
        self.at = Some(version);
        for (app_id, txn) in txns {
            self.versions.insert(app_id.clone(), Some(*txn));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_hold_at_their_version_and_after_own_commits_only() {
        let mut txns = TxnVersions::default();
        assert_eq!(txns.get(Some(3), "a"), None);
        txns.found(Some(3), "a", Some(10));
        txns.found(Some(3), "b", None);
        assert_eq!(txns.get(Some(3), "a"), Some(Some(10)));
        assert_eq!(txns.get(Some(3), "b"), Some(None));
        // Our own commit on top of version 3: both still exact at 4.
        txns.committed(Some(3), 4, &[("b".into(), 7)]);
        assert_eq!(txns.get(Some(4), "a"), Some(Some(10)));
        assert_eq!(txns.get(Some(4), "b"), Some(Some(7)));
        // Our commit landed at 6 (another writer made 5): only ours is known.
        txns.committed(Some(4), 6, &[("a".into(), 20)]);
        assert_eq!(txns.get(Some(6), "b"), None);
        assert_eq!(txns.get(Some(6), "a"), Some(Some(20)));
        // The table moved on without us: nothing is known.
        assert_eq!(txns.get(Some(7), "a"), None);
        // A lookup at an older version than the one now held is not kept.
        txns.found(Some(6), "a", Some(1));
        assert_eq!(txns.get(Some(7), "a"), None);
    }
}
