//! What a `serve` reload (SIGHUP) changed, counted per kind of object, for its log line.

use std::fmt;

use indexmap::IndexMap;

use crate::model::Topology;

/// Objects of one kind that a reload added, removed or changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// In the new topology only.
    pub(crate) added: usize,
    /// In the old topology only.
    pub(crate) removed: usize,
    /// In both, but not equal.
    pub(crate) changed: usize,
}

impl Counts {
    fn between<T: PartialEq>(old: &IndexMap<String, T>, new: &IndexMap<String, T>) -> Self {
        let mut counts = Self::default();
        for (key, value) in new {
            match old.get(key) {
                None => counts.added += 1,
                Some(before) if before != value => counts.changed += 1,
                Some(_) => {}
            }
        }
        counts.removed = old.keys().filter(|k| !new.contains_key(*k)).count();
        counts
    }

    fn is_empty(self) -> bool {
        self == Self::default()
    }
}

/// The differences between the topology before and after a reload, by kind, in the
/// order of the scenario format's tables. Its `Display` is one line:
/// `endpoints +1 -0 ~2, security_groups +0 -0 ~1`, or `no changes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReloadSummary {
    kinds: Vec<(&'static str, Counts)>,
}

impl ReloadSummary {
    /// Compares `old` with `new`, object by object under the same name (or ID).
    pub(crate) fn between(old: &Topology, new: &Topology) -> Self {
        let kinds = vec![
            ("accounts", Counts::between(&old.accounts, &new.accounts)),
            ("vpcs", Counts::between(&old.vpcs, &new.vpcs)),
            ("subnets", Counts::between(&old.subnets, &new.subnets)),
            (
                "security_groups",
                Counts::between(&old.security_groups, &new.security_groups),
            ),
            ("nacls", Counts::between(&old.nacls, &new.nacls)),
            ("instances", Counts::between(&old.instances, &new.instances)),
            ("onprem", Counts::between(&old.onprem, &new.onprem)),
            ("services", Counts::between(&old.services, &new.services)),
            ("endpoints", Counts::between(&old.endpoints, &new.endpoints)),
            ("enis", Counts::between(&old.enis, &new.enis)),
            (
                "notifications",
                Counts::between(&old.notifications, &new.notifications),
            ),
        ];
        Self { kinds }
    }

    /// The counts of one kind (`"endpoints"`, ...).
    #[cfg(test)]
    pub(crate) fn of(&self, kind: &str) -> Counts {
        self.kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }
}

impl fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (kind, counts) in self.kinds.iter().filter(|(_, c)| !c.is_empty()) {
            if any {
                f.write_str(", ")?;
            }
            any = true;
            write!(
                f,
                "{kind} +{} -{} ~{}",
                counts.added, counts.removed, counts.changed
            )?;
        }
        if !any {
            f.write_str("no changes")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(text: &str) -> Topology {
        crate::scenario::parse(std::path::Path::new("reload-test.toml"), text)
            .expect("the test topology loads")
            .control
            .topology()
            .clone()
    }

    const BASE: &str = r#"
name = "reload"
[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true
[subnets.a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
[security_groups.web]
vpc = "main"
ingress = [ { proto = "tcp", ports = 443, cidr = "10.0.0.0/16" } ]
[endpoints.sqs]
vpc = "main"
service = "com.amazonaws.us-east-1.sqs"
subnets = ["a"]
security_groups = ["web"]
"#;

    #[test]
    fn the_same_file_changes_nothing() {
        let summary = ReloadSummary::between(&topology(BASE), &topology(BASE));
        assert_eq!(summary.to_string(), "no changes");
    }

    #[test]
    fn added_removed_and_changed_objects_are_counted_per_kind() {
        let new = BASE
            .replace("ports = 443", "ports = 8443")
            .replace("[endpoints.sqs]", "[endpoints.sns]")
            .replace("sqs\"", "sns\"");
        let summary = ReloadSummary::between(&topology(BASE), &topology(&new));
        assert_eq!(
            summary.of("security_groups"),
            Counts {
                added: 0,
                removed: 0,
                changed: 1
            }
        );
        assert_eq!(
            summary.of("endpoints"),
            Counts {
                added: 1,
                removed: 1,
                changed: 0
            }
        );
        assert!(summary.of("vpcs").is_empty());
        let line = summary.to_string();
        assert!(line.contains("security_groups +0 -0 ~1"), "{line}");
        assert!(line.contains("endpoints +1 -1 ~0"), "{line}");
        assert!(!line.contains("vpcs"), "{line}");
    }
}
