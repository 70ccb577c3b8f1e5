//! Which endpoint a step's endpoint name means: the one most recently created under
//! that name, decided when the step runs.
//!
//! A `create_endpoint` binds its name only when it succeeds, so a failed create leaves
//! the name free for a later attempt, and a name may be created again after its
//! endpoint was deleted. The control plane keys endpoints by a unique name; the first
//! endpoint of a name gets the name itself, a later one `NAME#2`, `NAME#3`, ...

use std::collections::HashMap;

/// Scenario endpoint names and the control-plane keys they are bound to.
#[derive(Debug, Default)]
pub(super) struct Bindings {
    current: HashMap<String, String>,
}

impl Bindings {
    /// The control-plane key that `name` means now: its latest successful create, or
    /// the name itself (a declared endpoint, or one that no create made yet).
    pub(super) fn key<'s>(&'s self, name: &'s str) -> &'s str {
        self.current.get(name).map_or(name, String::as_str)
    }

    /// The key for a new endpoint named `name`: the name while no endpoint holds it,
    /// else the first free `name#N`.
    pub(super) fn fresh_key(name: &str, taken: impl Fn(&str) -> bool) -> String {
        if !taken(name) {
            return name.to_string();
        }
        (2u64..)
            .map(|n| format!("{name}#{n}"))
            .find(|key| !taken(key))
            .unwrap_or_else(|| name.to_string())
    }

    /// Binds `name` to the endpoint just created under `key`.
    pub(super) fn bind(&mut self, name: &str, key: String) {
        self.current.insert(name.to_string(), key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_means_its_latest_successful_create() {
        let mut bindings = Bindings::default();
        assert_eq!(bindings.key("k"), "k");
        let taken = ["k", "k#2"];
        let key = Bindings::fresh_key("k", |k| taken.contains(&k));
        assert_eq!(key, "k#3");
        bindings.bind("k", key);
        assert_eq!(bindings.key("k"), "k#3");
        assert_eq!(
            Bindings::fresh_key("other", |k| taken.contains(&k)),
            "other"
        );
    }
}
