//! The scenario file as TOML gives it: serde types that mirror docs/scenario-format.md key
//! for key, reject unknown keys, and keep the byte span of every value that a later
//! check may need to point at.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;
pub(crate) type Named<T> = IndexMap<S<String>, S<T>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub(crate) name: S<String>,
    pub(crate) description: Option<String>,
    pub(crate) region: Option<S<String>>,
    pub(crate) seed: Option<S<i64>>,
    pub(crate) provisioning: Option<S<String>>,
    pub(crate) bandwidth: Option<S<RawBandwidth>>,
    #[serde(default)]
    pub(crate) accounts: Named<RawAccount>,
    #[serde(default)]
    pub(crate) vpcs: Named<RawVpc>,
    #[serde(default)]
    pub(crate) subnets: Named<RawSubnet>,
    #[serde(default)]
    pub(crate) security_groups: Named<RawSecurityGroup>,
    #[serde(default)]
    pub(crate) nacls: Named<RawNacl>,
    #[serde(default)]
    pub(crate) instances: Named<RawInstance>,
    #[serde(default)]
    pub(crate) onprem: Named<RawOnPrem>,
    #[serde(default)]
    pub(crate) services: Named<RawService>,
    #[serde(default)]
    pub(crate) backends: IndexMap<S<String>, S<String>>,
    #[serde(default)]
    pub(crate) endpoints: Named<RawEndpoint>,
    #[serde(default)]
    pub(crate) notifications: Vec<S<RawNotification>>,
    #[serde(default)]
    pub(crate) steps: Vec<S<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBandwidth {
    pub(crate) per_az_gbps: Option<S<f64>>,
    pub(crate) burst_mbit: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccount {
    pub(crate) id: S<String>,
    pub(crate) az_ids: Option<IndexMap<S<String>, S<String>>>,
    pub(crate) access_keys: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVpc {
    pub(crate) account: Option<S<String>>,
    pub(crate) cidr: S<String>,
    pub(crate) dns_support: Option<bool>,
    pub(crate) dns_hostnames: Option<bool>,
    pub(crate) id: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSubnet {
    pub(crate) vpc: S<String>,
    pub(crate) cidr: S<String>,
    pub(crate) az: Option<S<String>>,
    pub(crate) az_id: Option<S<String>>,
    pub(crate) nacl: Option<S<String>>,
    pub(crate) id: Option<S<String>>,
}

/// `ports = 443` or `ports = "1024-65535"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawPorts {
    Number(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSgRule {
    pub(crate) proto: S<String>,
    pub(crate) ports: Option<S<RawPorts>>,
    pub(crate) cidr: Option<S<String>>,
    pub(crate) sg: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecurityGroup {
    pub(crate) vpc: S<String>,
    pub(crate) ingress: Option<Vec<S<RawSgRule>>>,
    pub(crate) egress: Option<Vec<S<RawSgRule>>>,
    pub(crate) id: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNaclEntry {
    pub(crate) rule: S<i64>,
    pub(crate) proto: S<String>,
    pub(crate) ports: Option<S<RawPorts>>,
    pub(crate) cidr: S<String>,
    pub(crate) action: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNacl {
    pub(crate) vpc: S<String>,
    pub(crate) inbound: Option<Vec<S<RawNaclEntry>>>,
    pub(crate) outbound: Option<Vec<S<RawNaclEntry>>>,
    pub(crate) id: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInstance {
    pub(crate) subnet: S<String>,
    pub(crate) ip: Option<S<String>>,
    pub(crate) security_groups: Option<Vec<S<String>>>,
    pub(crate) id: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOnPrem {
    pub(crate) cidr: S<String>,
    pub(crate) vpc: S<String>,
    pub(crate) via: S<String>,
    #[serde(default)]
    pub(crate) hosts: IndexMap<S<String>, S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub(crate) account: Option<S<String>>,
    pub(crate) acceptance_required: Option<bool>,
    pub(crate) az_ids: Option<Vec<S<String>>>,
    pub(crate) ports: Option<Vec<S<i64>>>,
    pub(crate) private_dns_name: Option<S<String>>,
    pub(crate) marketplace: Option<bool>,
    pub(crate) backend: Option<S<String>>,
    pub(crate) id: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEndpoint {
    pub(crate) vpc: S<String>,
    pub(crate) service: S<String>,
    pub(crate) subnets: S<Vec<S<String>>>,
    pub(crate) security_groups: Option<S<Vec<S<String>>>>,
    pub(crate) private_dns: Option<S<bool>>,
    pub(crate) policy: Option<S<String>>,
    pub(crate) tags: Option<IndexMap<String, String>>,
    pub(crate) id: Option<S<String>>,
    pub(crate) dns_suffix: Option<S<String>>,
}

/// `create_endpoint = { name = ..., <the keys of [endpoints.NAME]> }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCreateEndpoint {
    pub(crate) name: S<String>,
    pub(crate) vpc: S<String>,
    pub(crate) service: S<String>,
    pub(crate) subnets: S<Vec<S<String>>>,
    pub(crate) security_groups: Option<S<Vec<S<String>>>>,
    pub(crate) private_dns: Option<S<bool>>,
    pub(crate) policy: Option<S<String>>,
    pub(crate) tags: Option<IndexMap<String, String>>,
    pub(crate) id: Option<S<String>>,
    pub(crate) dns_suffix: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotification {
    pub(crate) endpoint: Option<S<String>>,
    pub(crate) service: Option<S<String>>,
    pub(crate) topic: S<String>,
    pub(crate) events: S<Vec<S<String>>>,
}

/// `bytes = "10GB"` or `bytes = 1048576`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawSize {
    Number(i64),
    Text(String),
}

/// `rule = 100` or `rule = "*"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawRuleRef {
    Number(i64),
    Text(String),
}

/// `answers = ["10.0.1.4"]` or `answers = "endpoint:NAME"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawAnswers {
    List(Vec<String>),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    /// A label the reports show.
    pub(crate) name: Option<S<String>>,
    // Actions: exactly one per step.
    pub(crate) resolve: Option<S<String>>,
    pub(crate) connect: Option<S<String>>,
    pub(crate) transfer: Option<S<String>>,
    pub(crate) create_endpoint: Option<S<RawCreateEndpoint>>,
    pub(crate) modify_endpoint: Option<S<String>>,
    pub(crate) delete_endpoint: Option<S<String>>,
    pub(crate) accept: Option<S<String>>,
    pub(crate) reject: Option<S<String>>,
    pub(crate) set_vpc: Option<S<String>>,
    pub(crate) set_security_group: Option<S<String>>,
    pub(crate) set_nacl: Option<S<String>>,
    pub(crate) describe_endpoint: Option<S<String>>,
    pub(crate) describe_service: Option<S<String>>,
    pub(crate) wait: Option<S<String>>,
    pub(crate) notifications: Option<S<String>>,
    // Parameters.
    pub(crate) from: Option<S<String>>,
    #[serde(rename = "type")]
    pub(crate) record_type: Option<S<String>>,
    pub(crate) proto: Option<S<String>>,
    pub(crate) timeout: Option<S<String>>,
    pub(crate) bytes: Option<S<RawSize>>,
    pub(crate) direction: Option<S<String>>,
    pub(crate) streams: Option<S<i64>>,
    pub(crate) add_subnets: Option<S<Vec<S<String>>>>,
    pub(crate) remove_subnets: Option<S<Vec<S<String>>>>,
    pub(crate) add_security_groups: Option<S<Vec<S<String>>>>,
    pub(crate) remove_security_groups: Option<S<Vec<S<String>>>>,
    pub(crate) private_dns: Option<S<bool>>,
    pub(crate) policy: Option<S<String>>,
    pub(crate) dns_support: Option<S<bool>>,
    pub(crate) dns_hostnames: Option<S<bool>>,
    pub(crate) ingress: Option<S<Vec<S<RawSgRule>>>>,
    pub(crate) egress: Option<S<Vec<S<RawSgRule>>>>,
    pub(crate) inbound: Option<S<Vec<S<RawNaclEntry>>>>,
    pub(crate) outbound: Option<S<Vec<S<RawNaclEntry>>>>,
    pub(crate) account: Option<S<String>>,
    pub(crate) expect: Option<S<RawExpect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBlockedBy {
    pub(crate) kind: Option<S<String>>,
    pub(crate) direction: Option<S<String>>,
    pub(crate) name: Option<S<String>>,
    pub(crate) rule: Option<S<RawRuleRef>>,
    pub(crate) subnet: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpect {
    pub(crate) rcode: Option<S<String>>,
    pub(crate) answers: Option<S<RawAnswers>>,
    pub(crate) count: Option<S<i64>>,
    pub(crate) ttl: Option<S<i64>>,
    pub(crate) outcome: Option<S<String>>,
    pub(crate) blocked_by: Option<S<RawBlockedBy>>,
    pub(crate) gbps: Option<S<f64>>,
    pub(crate) seconds: Option<S<f64>>,
    pub(crate) tolerance: Option<S<f64>>,
    pub(crate) ok: Option<S<bool>>,
    pub(crate) error: Option<S<String>>,
    pub(crate) state: Option<S<String>>,
    pub(crate) dns_names: Option<S<i64>>,
    pub(crate) private_dns: Option<S<bool>>,
    pub(crate) subnets: Option<S<i64>>,
    pub(crate) azs: Option<S<Vec<S<String>>>>,
    pub(crate) events: Option<S<Vec<S<String>>>>,
}
