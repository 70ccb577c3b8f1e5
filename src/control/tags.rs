//! `CreateTags` and `DeleteTags` on the resources vpcesim models.
//!
//! An endpoint keeps its tags in the model (scenarios set them); every other resource
//! (VPC, subnet, security group, endpoint service, ENI, notification) keeps them here,
//! by ID. A caller may tag only what its account owns.

use std::time::Duration;

use indexmap::IndexMap;

use super::{ApiError, ControlPlane, ErrorCode};

/// AWS's limit of tags per resource.
pub const TAGS_PER_RESOURCE: usize = 50;

/// Where a resource's tags live.
enum Home {
    Endpoint(String),
    Side,
}

impl ControlPlane {
    /// The tags of the resource with ID `id`, in the order they were set.
    pub fn tags_of(&self, id: &str) -> IndexMap<String, String> {
        if let Some(e) = self.endpoint_by_id(id) {
            return e.tags.clone();
        }
        self.tags.get(id).cloned().unwrap_or_default()
    }

    /// Adds or overwrites `tags` on every resource of `resources`; all or nothing.
    pub fn create_tags(
        &mut self,
        now: Duration,
        caller: &str,
        resources: &[String],
        tags: &[(String, String)],
    ) -> Result<(), ApiError> {
        self.advance(now);
        if resources.is_empty() {
            return Err(missing("ResourceId"));
        }
        if tags.is_empty() {
            return Err(missing("Tag"));
        }
        for (key, value) in tags {
            check_tag(key, value)?;
        }
        let homes = resources
            .iter()
            .map(|r| self.tag_home(caller, r))
            .collect::<Result<Vec<_>, _>>()?;
        for id in resources {
            let mut merged = self.tags_of(id);
            for (k, v) in tags {
                merged.insert(k.clone(), v.clone());
            }
            if merged.len() > TAGS_PER_RESOURCE {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!("A resource can have at most {TAGS_PER_RESOURCE} tags: {id}"),
                ));
            }
        }
        self.may_commit()?;
        for (id, home) in resources.iter().zip(homes) {
            let target = match home {
                Home::Endpoint(key) => &mut self.topology.endpoints[&key].tags,
                Home::Side => self.tags.entry(id.clone()).or_default(),
            };
            for (k, v) in tags {
                target.insert(k.clone(), v.clone());
            }
        }
        self.changed();
        Ok(())
    }

    /// Removes tags: a `(key, None)` removes the key whatever its value, `(key,
    /// Some(value))` only when the value matches; no tags at all removes every tag.
    pub fn delete_tags(
        &mut self,
        now: Duration,
        caller: &str,
        resources: &[String],
        tags: &[(String, Option<String>)],
    ) -> Result<(), ApiError> {
        self.advance(now);
        if resources.is_empty() {
            return Err(missing("ResourceId"));
        }
        let homes = resources
            .iter()
            .map(|r| self.tag_home(caller, r))
            .collect::<Result<Vec<_>, _>>()?;
        self.may_commit()?;
        for (id, home) in resources.iter().zip(homes) {
            let target = match home {
                Home::Endpoint(key) => &mut self.topology.endpoints[&key].tags,
                Home::Side => self.tags.entry(id.clone()).or_default(),
            };
            if tags.is_empty() {
                target.clear();
            }
            for (k, v) in tags {
                if v.as_ref().is_none_or(|v| target.get(k) == Some(v)) {
                    target.shift_remove(k);
                }
            }
        }
        self.changed();
        Ok(())
    }

    /// Where the tags of resource `id` live, if `caller` owns it.
    fn tag_home(&self, caller: &str, id: &str) -> Result<Home, ApiError> {
        let t = &self.topology;
        let vpc_owner = |vpc: &str| t.vpcs.get(vpc).map(|v| v.account.as_str());
        let (owner, home, code) = if id.starts_with("vpce-svc-") {
            let owner = t
                .services
                .values()
                .find(|s| s.id == id)
                .map(|s| s.account.as_str());
            (
                owner,
                Home::Side,
                ErrorCode::InvalidVpcEndpointServiceIdNotFound,
            )
        } else if id.starts_with("vpce-nfn-") {
            let owner = t
                .notifications
                .get(id)
                .and_then(|n| self.notification_owner(n));
            (owner, Home::Side, ErrorCode::InvalidConnectionNotification)
        } else if id.starts_with("vpce-") {
            match self.endpoint_by_id(id) {
                Some(e) => (
                    Some(e.account.as_str()),
                    Home::Endpoint(e.name.clone()),
                    ErrorCode::InvalidVpcEndpointIdNotFound,
                ),
                None => (None, Home::Side, ErrorCode::InvalidVpcEndpointIdNotFound),
            }
        } else if id.starts_with("vpc-") {
            let owner = t
                .vpcs
                .values()
                .find(|v| v.id == id)
                .map(|v| v.account.as_str());
            (owner, Home::Side, ErrorCode::InvalidVpcIdNotFound)
        } else if id.starts_with("subnet-") {
            let owner = t
                .subnets
                .values()
                .find(|s| s.id == id)
                .and_then(|s| vpc_owner(&s.vpc));
            (owner, Home::Side, ErrorCode::InvalidSubnetIdNotFound)
        } else if id.starts_with("sg-") {
            let owner = t
                .security_groups
                .values()
                .find(|g| g.id == id)
                .and_then(|g| vpc_owner(&g.vpc));
            (owner, Home::Side, ErrorCode::InvalidGroupNotFound)
        } else if id.starts_with("eni-") {
            let owner = t
                .enis
                .get(id)
                .and_then(|e| t.endpoints.get(&e.endpoint))
                .map(|e| e.account.as_str());
            (owner, Home::Side, ErrorCode::InvalidId)
        } else {
            return Err(ApiError::new(
                ErrorCode::InvalidId,
                format!("The ID '{id}' is not valid"),
            ));
        };
        if owner == Some(caller) {
            Ok(home)
        } else {
            Err(ApiError::new(code, format!("The ID '{id}' does not exist")))
        }
    }
}

/// A tag AWS accepts: a key of 1 to 128 characters not starting with `aws:`, a value
/// of at most 256, neither with a control character (tab and newline aside) nor
/// U+FFFE/U+FFFF, which no XML document can carry.
pub(crate) fn check_tag(key: &str, value: &str) -> Result<(), ApiError> {
    let bad = |message: String| ApiError::new(ErrorCode::InvalidParameterValue, message);
    let shown = |text: &str| -> String {
        text.chars()
            .map(|c| if is_allowed(c) { c } else { '\u{FFFD}' })
            .collect()
    };
    let key_chars = key.chars().count();
    if key_chars == 0 || key_chars > 128 || key.starts_with("aws:") {
        return Err(bad(format!(
            "Tag key '{}' is empty, longer than 128 characters or starts with aws:",
            shown(key)
        )));
    }
    if value.chars().count() > 256 {
        return Err(bad(format!(
            "The value of tag '{}' is longer than 256 characters",
            shown(key)
        )));
    }
    for (what, text) in [("key", key), ("value", value)] {
        if let Some((at, c)) = text.chars().enumerate().find(|(_, c)| !is_allowed(*c)) {
            return Err(bad(format!(
                "The tag {what} '{}' has a character that is not allowed (U+{:04X}) at position {at}",
                shown(text),
                u32::from(c)
            )));
        }
    }
    Ok(())
}

fn is_allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

fn missing(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::MissingParameter,
        format!("The request must contain the parameter {name}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::testkit::two_accounts;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tags_on_endpoints_and_vpcs_round_trip() {
        let mut cp = two_accounts();
        let ep = cp.topology().endpoints["kin"].id.clone();
        let vpc = cp.topology().vpcs["main"].id.clone();
        let ids = vec![ep.clone(), vpc.clone()];
        cp.create_tags(
            Duration::ZERO,
            "c",
            &ids,
            &pairs(&[("Name", "x"), ("env", "dev")]),
        )
        .unwrap();
        assert_eq!(cp.topology().endpoints["kin"].tags["Name"], "x");
        assert_eq!(cp.tags_of(&vpc)["env"], "dev");

        cp.delete_tags(
            Duration::ZERO,
            "c",
            &ids,
            &[("Name".into(), Some("other".into())), ("env".into(), None)],
        )
        .unwrap();
        let left: Vec<_> = cp.tags_of(&ep).into_keys().collect();
        assert_eq!(left, ["Name"], "a value that does not match keeps the tag");
        cp.delete_tags(Duration::ZERO, "c", &ids, &[]).unwrap();
        assert!(cp.tags_of(&ep).is_empty() && cp.tags_of(&vpc).is_empty());
    }

    #[test]
    fn foreign_unknown_and_bad_keys_fail_without_changes() {
        let mut cp = two_accounts();
        let ep = cp.topology().endpoints["kin"].id.clone();
        let tags = pairs(&[("k", "v")]);
        let code = |r: Result<(), ApiError>| r.unwrap_err().code;
        assert_eq!(
            code(cp.create_tags(Duration::ZERO, "p", std::slice::from_ref(&ep), &tags)),
            ErrorCode::InvalidVpcEndpointIdNotFound
        );
        assert_eq!(
            code(cp.create_tags(
                Duration::ZERO,
                "c",
                &[ep.clone(), "vpc-00000000".into()],
                &tags
            )),
            ErrorCode::InvalidVpcIdNotFound
        );
        assert!(cp.tags_of(&ep).is_empty(), "all or nothing");
        assert_eq!(
            code(cp.create_tags(Duration::ZERO, "c", &["i-123".into()], &tags)),
            ErrorCode::InvalidId
        );
        assert_eq!(
            code(cp.create_tags(
                Duration::ZERO,
                "c",
                std::slice::from_ref(&ep),
                &pairs(&[("aws:x", "v")])
            )),
            ErrorCode::InvalidParameterValue
        );
        assert_eq!(
            code(cp.create_tags(Duration::ZERO, "c", &[], &tags)),
            ErrorCode::MissingParameter
        );
        for (k, v) in [
            ("k", "a\u{0}"),
            ("k\u{1}", "v"),
            ("k", "\u{FFFE}"),
            ("k", "\r"),
        ] {
            assert_eq!(
                code(cp.create_tags(
                    Duration::ZERO,
                    "c",
                    std::slice::from_ref(&ep),
                    &pairs(&[(k, v)])
                )),
                ErrorCode::InvalidParameterValue,
                "{k:?}={v:?}"
            );
        }
        assert!(cp.tags_of(&ep).is_empty(), "nothing stored");
        cp.create_tags(
            Duration::ZERO,
            "c",
            std::slice::from_ref(&ep),
            &pairs(&[("k", "tab\tnewline\nunicode é")]),
        )
        .unwrap();
    }
}
