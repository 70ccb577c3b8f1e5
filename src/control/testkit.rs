//! A small two-account world for the API-facing control-plane tests.

use std::path::Path;

use super::ControlPlane;

/// Consumer `c` (VPC `main`, subnets `a` in us-east-1a and `b` in us-east-1b, group
/// `ep`) with one endpoint `kin` to Kinesis, and provider `p` with service `svc`
/// (acceptance required).
pub(crate) const TWO_ACCOUNTS: &str = r#"
name = "t"
[accounts.c]
id = "111111111111"
access_keys = ["AKIACONSUMER"]
[accounts.p]
id = "222222222222"
access_keys = ["AKIAPROVIDER"]
[vpcs.main]
account = "c"
cidr = "10.0.0.0/16"
dns_hostnames = true
[vpcs.pvpc]
account = "p"
cidr = "10.9.0.0/16"
[subnets.a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
[subnets.b]
vpc = "main"
cidr = "10.0.2.0/24"
az = "us-east-1b"
[security_groups.ep]
vpc = "main"
[services.svc]
account = "p"
acceptance_required = true
az_ids = ["use1-az1", "use1-az2"]
[endpoints.kin]
vpc = "main"
service = "com.amazonaws.us-east-1.kinesis-streams"
subnets = ["a"]
security_groups = ["ep"]
"#;

/// The world of [`TWO_ACCOUNTS`].
pub(crate) fn two_accounts() -> ControlPlane {
    match crate::scenario::parse(Path::new("t.toml"), TWO_ACCOUNTS) {
        Ok(s) => s.control,
        Err(e) => panic!("{e}"),
    }
}
