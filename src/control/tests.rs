//! Control-plane behaviour: validation and error codes, lifecycle, AZ mapping, names,
//! determinism and address allocation. Topologies are written as scenario files, the
//! way users write them.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::model::{EndpointState, NotificationTarget};
use crate::scenario::parse;

const BASE: &str = r#"
name = "t"
[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true
[vpcs.other]
cidr = "10.1.0.0/16"
[subnets.a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
[subnets.b]
vpc = "main"
cidr = "10.0.2.0/24"
az = "us-east-1b"
[subnets.a2]
vpc = "main"
cidr = "10.0.3.0/24"
az = "us-east-1a"
[subnets.o]
vpc = "other"
cidr = "10.1.1.0/24"
az = "us-east-1a"
[security_groups.ep]
vpc = "main"
ingress = [{ proto = "tcp", ports = 443, cidr = "10.0.0.0/16" }]
[security_groups.ep2]
vpc = "main"
[security_groups.far]
vpc = "other"
[instances.web]
subnet = "a"
"#;

const SECONDS: Duration = Duration::from_secs(1);

fn world(extra: &str) -> ControlPlane {
    world_with_provisioning(extra, "0s")
}

/// A world where `pending -> available` and `deleting -> deleted` take `delay`.
fn world_with_provisioning(extra: &str, delay: &str) -> ControlPlane {
    let source = format!("provisioning = \"{delay}\"\n{BASE}{extra}");
    match parse(Path::new("t.toml"), &source) {
        Ok(s) => s.control,
        Err(e) => panic!("{e}"),
    }
}

fn req(name: &str, service: &str, subnets: &[&str]) -> CreateEndpoint {
    CreateEndpoint {
        name: Some(name.into()),
        vpc: "main".into(),
        service: service.into(),
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        security_groups: vec!["ep".into()],
        private_dns: Some(false),
        ..CreateEndpoint::default()
    }
}

const KINESIS: &str = "com.amazonaws.us-east-1.kinesis-streams";
const STS: &str = "com.amazonaws.us-east-1.sts";

fn code(result: Result<impl std::fmt::Debug, ApiError>) -> ErrorCode {
    result.expect_err("the call should fail").code
}

#[test]
fn create_returns_pending_with_enis_and_names_then_becomes_available() {
    let mut c = world("");
    let ep = c
        .create_endpoint(Duration::ZERO, "default", &req("k", KINESIS, &["a", "b"]))
        .unwrap();
    assert_eq!(ep.state, EndpointState::Pending);
    assert_eq!(ep.enis.len(), 2);
    let entries = names::dns_entries(c.topology(), &ep);
    assert_eq!(entries.len(), 3, "regional and two zonal");
    c.advance(Duration::ZERO);
    assert_eq!(c.topology().endpoints["k"].state, EndpointState::Available);
}

#[test]
fn provisioning_delay_holds_pending_until_due() {
    let mut c = world_with_provisioning("", "30s");
    c.create_endpoint(Duration::ZERO, "default", &req("k", KINESIS, &["a"]))
        .unwrap();
    c.advance(29 * SECONDS);
    assert_eq!(c.topology().endpoints["k"].state, EndpointState::Pending);
    assert_eq!(c.next_transition_at(), Some(30 * SECONDS));
    c.advance(30 * SECONDS);
    assert_eq!(c.topology().endpoints["k"].state, EndpointState::Available);
    assert_eq!(
        c.delete_endpoint(31 * SECONDS, "default", "k"),
        Ok(EndpointState::Deleting)
    );
    c.advance(60 * SECONDS);
    assert_eq!(c.topology().endpoints["k"].state, EndpointState::Deleting);
    c.advance(61 * SECONDS);
    assert_eq!(c.topology().endpoints["k"].state, EndpointState::Deleted);
}

#[test]
fn delete_removes_enis_and_names_and_deleted_stays_listed() {
    let mut c = world("");
    c.create_endpoint(Duration::ZERO, "default", &req("k", KINESIS, &["a"]))
        .unwrap();
    assert_eq!(
        c.delete_endpoint(SECONDS, "default", "k"),
        Ok(EndpointState::Deleting)
    );
    let ep = &c.topology().endpoints["k"];
    assert!(ep.enis.is_empty());
    assert!(c.topology().enis.is_empty());
    assert!(names::dns_entries(c.topology(), ep).is_empty());
    c.advance(SECONDS);
    assert_eq!(c.topology().endpoints["k"].state, EndpointState::Deleted);
    assert_eq!(
        code(c.delete_endpoint(2 * SECONDS, "default", "k")),
        ErrorCode::OperationNotPermitted
    );
    assert_eq!(
        code(c.modify_endpoint(2 * SECONDS, "default", "k", &ModifyEndpoint::default())),
        ErrorCode::OperationNotPermitted
    );
}

const PROVIDER: &str = r#"
[services.pay]
acceptance_required = true
az_ids = ["use1-az1", "use1-az2"]
private_dns_name = "api.pay.example.com"
[services.open]
az_ids = ["use1-az1"]
"#;

#[test]
fn acceptance_lifecycle_and_reject_rules() {
    let mut c = world_with_provisioning(PROVIDER, "1s");
    let ep = c
        .create_endpoint(Duration::ZERO, "default", &req("p", "pay", &["a"]))
        .unwrap();
    assert_eq!(ep.state, EndpointState::PendingAcceptance);
    c.advance(SECONDS / 2);
    assert_eq!(
        c.topology().endpoints["p"].state,
        EndpointState::PendingAcceptance,
        "waits for the provider"
    );
    assert_eq!(
        c.accept_endpoint(SECONDS, "default", "p"),
        Ok(EndpointState::Pending)
    );
    assert_eq!(
        code(c.accept_endpoint(SECONDS, "default", "p")),
        ErrorCode::OperationNotPermitted
    );
    assert_eq!(
        code(c.reject_endpoint(SECONDS, "default", "p")),
        ErrorCode::OperationNotPermitted,
        "not while pending"
    );
    c.advance(2 * SECONDS);
    assert_eq!(c.topology().endpoints["p"].state, EndpointState::Available);
    assert_eq!(
        c.reject_endpoint(2 * SECONDS, "default", "p"),
        Ok(EndpointState::Rejected)
    );
    assert_eq!(
        c.topology().endpoints["p"].enis.len(),
        1,
        "ENIs remain until the consumer deletes"
    );
    assert_eq!(
        c.delete_endpoint(3 * SECONDS, "default", "p"),
        Ok(EndpointState::Deleting)
    );

    c.create_endpoint(4 * SECONDS, "default", &req("q", "pay", &["a"]))
        .unwrap();
    assert_eq!(
        c.reject_endpoint(4 * SECONDS, "default", "q"),
        Ok(EndpointState::Rejected)
    );
}

#[test]
fn accept_without_acceptance_is_not_permitted_reject_once_available_is() {
    let mut c = world(PROVIDER);
    c.create_endpoint(Duration::ZERO, "default", &req("k", KINESIS, &["a"]))
        .unwrap();
    c.create_endpoint(Duration::ZERO, "default", &req("o", "open", &["a"]))
        .unwrap();
    for ep in ["k", "o"] {
        assert_eq!(
            code(c.accept_endpoint(SECONDS, "default", ep)),
            ErrorCode::OperationNotPermitted,
            "{ep}: accepted automatically already"
        );
    }
    assert_eq!(
        code(c.reject_endpoint(SECONDS, "default", "k")),
        ErrorCode::OperationNotPermitted,
        "an AWS service has no provider to reject"
    );
    assert_eq!(c.topology().endpoints["o"].state, EndpointState::Available);
    assert_eq!(
        c.reject_endpoint(SECONDS, "default", "o"),
        Ok(EndpointState::Rejected),
        "the provider rejects an endpoint it accepted automatically once it is available"
    );
}

#[test]
fn a_reject_of_an_automatically_accepted_endpoint_waits_for_available() {
    let mut c = world_with_provisioning(PROVIDER, "1s");
    c.create_endpoint(Duration::ZERO, "default", &req("o", "open", &["a"]))
        .unwrap();
    assert_eq!(
        code(c.reject_endpoint(Duration::ZERO, "default", "o")),
        ErrorCode::OperationNotPermitted,
        "not while pending"
    );
    c.advance(SECONDS);
    assert_eq!(
        c.reject_endpoint(SECONDS, "default", "o"),
        Ok(EndpointState::Rejected)
    );
}

#[test]
fn a_reject_before_provisioning_finishes_wins() {
    let mut c = world_with_provisioning(PROVIDER, "1s");
    c.create_endpoint(Duration::ZERO, "default", &req("p", "pay", &["a"]))
        .unwrap();
    c.accept_endpoint(Duration::ZERO, "default", "p").unwrap();
    // Accepted but not yet provisioned: reject is not allowed in `pending`.
    assert_eq!(
        code(c.reject_endpoint(Duration::ZERO, "default", "p")),
        ErrorCode::OperationNotPermitted
    );
    c.delete_endpoint(Duration::ZERO, "default", "p").unwrap();
    c.advance(5 * SECONDS);
    assert_eq!(
        c.topology().endpoints["p"].state,
        EndpointState::Deleted,
        "provisioning does not revive a deleted endpoint"
    );
}

#[test]
fn lookup_errors() {
    let mut c = world(PROVIDER);
    let mut r = req("k", KINESIS, &["a"]);
    r.vpc = "nope".into();
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &r)),
        ErrorCode::InvalidVpcIdNotFound
    );
    let r = req("k", "com.amazonaws.us-east-1.nothing", &["a"]);
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &r)),
        ErrorCode::InvalidServiceName
    );
    let r = req("k", "com.amazonaws.us-west-2.kinesis-streams", &["a"]);
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &r)),
        ErrorCode::InvalidServiceName,
        "same-Region only"
    );
    let r = req("k", KINESIS, &["subnet-00000000"]);
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &r)),
        ErrorCode::InvalidSubnetIdNotFound
    );
    let r = req("k", KINESIS, &["o"]);
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &r)),
        ErrorCode::InvalidParameter,
        "subnet of another VPC"
    );
    let mut r = req("k", KINESIS, &["a"]);
    r.security_groups = vec!["ghost".into()];
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &r)),
        ErrorCode::InvalidGroupNotFound
    );
    r.security_groups = vec!["far".into()];
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &r)),
        ErrorCode::InvalidParameter,
        "group of another VPC"
    );
    let mut r = req("k", KINESIS, &["a"]);
    r.policy = Some("{not json".into());
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &r)),
        ErrorCode::InvalidPolicyDocument
    );
    assert_eq!(
        code(c.delete_endpoint(Duration::ZERO, "default", "vpce-0123456789abcdef0")),
        ErrorCode::InvalidVpcEndpointIdNotFound
    );
    assert!(c.topology().endpoints.is_empty(), "nothing half-created");
    assert!(c.topology().enis.is_empty());
}

#[test]
fn one_subnet_per_az_on_create_and_modify() {
    let mut c = world("");
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &req("k", KINESIS, &["a", "a2"]))),
        ErrorCode::DuplicateSubnetsInSameZone
    );
    c.create_endpoint(Duration::ZERO, "default", &req("k", KINESIS, &["a"]))
        .unwrap();
    let add = ModifyEndpoint {
        add_subnets: vec!["a2".into()],
        ..ModifyEndpoint::default()
    };
    assert_eq!(
        code(c.modify_endpoint(SECONDS, "default", "k", &add)),
        ErrorCode::DuplicateSubnetsInSameZone
    );
    let swap = ModifyEndpoint {
        add_subnets: vec!["a2".into()],
        remove_subnets: vec!["a".into()],
        ..ModifyEndpoint::default()
    };
    c.modify_endpoint(SECONDS, "default", "k", &swap).unwrap();
    let ep = &c.topology().endpoints["k"];
    assert_eq!(ep.subnets, vec!["a2".to_string()]);
    assert_eq!(
        c.topology().enis[&ep.enis[0]].ip,
        Ipv4Addr::new(10, 0, 3, 4)
    );
}

#[test]
fn service_must_serve_the_subnets_az() {
    let mut c = world(PROVIDER);
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &req("o", "open", &["b"]))),
        ErrorCode::InvalidParameter
    );
    assert!(
        c.create_endpoint(Duration::ZERO, "default", &req("o", "open", &["a"]))
            .is_ok()
    );
}

#[test]
fn private_dns_rules() {
    let mut c = world_with_provisioning(PROVIDER, "1s");
    // Needs both VPC DNS attributes.
    c.set_vpc_attributes(Duration::ZERO, "main", None, Some(false))
        .unwrap();
    let mut r = req("k", KINESIS, &["a"]);
    r.private_dns = None; // AWS services default to on
    let e = c
        .create_endpoint(Duration::ZERO, "default", &r)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameter);
    assert!(
        e.message
            .contains("enableDnsSupport and enableDnsHostnames"),
        "{e}"
    );
    c.set_vpc_attributes(Duration::ZERO, "main", None, Some(true))
        .unwrap();
    let ep = c.create_endpoint(Duration::ZERO, "default", &r).unwrap();
    c.advance(SECONDS);
    assert!(ep.private_dns);
    // A second endpoint for the same name in the same VPC conflicts.
    let mut second = r.clone();
    second.name = Some("k2".into());
    let e = c
        .create_endpoint(Duration::ZERO, "default", &second)
        .unwrap_err();
    assert!(
        e.message
            .contains("conflicting DNS domain for kinesis.us-east-1.amazonaws.com"),
        "{e}"
    );
    second.private_dns = Some(false);
    c.create_endpoint(SECONDS, "default", &second).unwrap();
    c.advance(2 * SECONDS);
    // A service with no private name.
    let mut open = req("o", "open", &["a"]);
    open.private_dns = Some(true);
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &open)),
        ErrorCode::InvalidParameter
    );
    // S3 defaults to off; a provider service without Marketplace defaults to off.
    let s3 = CreateEndpoint {
        private_dns: None,
        ..req("s3", "com.amazonaws.us-east-1.s3", &["b"])
    };
    assert!(
        !c.create_endpoint(Duration::ZERO, "default", &s3)
            .unwrap()
            .private_dns
    );
    let pay = CreateEndpoint {
        private_dns: None,
        ..req("p", "pay", &["b"])
    };
    assert!(
        !c.create_endpoint(Duration::ZERO, "default", &pay)
            .unwrap()
            .private_dns
    );
    // Enabling by modify before `available` fails.
    let on = ModifyEndpoint {
        private_dns: Some(true),
        ..ModifyEndpoint::default()
    };
    assert_eq!(
        code(c.modify_endpoint(2 * SECONDS, "default", "p", &on)),
        ErrorCode::InvalidParameter
    );
    // The conflict counts until deleted, and the deleted one frees the name.
    c.delete_endpoint(2 * SECONDS, "default", "k").unwrap();
    assert_eq!(
        code(c.modify_endpoint(2 * SECONDS, "default", "k2", &on)),
        ErrorCode::InvalidParameter
    );
    c.modify_endpoint(3 * SECONDS, "default", "k2", &on)
        .unwrap();
    assert!(c.topology().endpoints["k2"].private_dns);
}

#[test]
fn last_security_group_and_last_subnet_cannot_be_removed() {
    let mut c = world("");
    c.create_endpoint(Duration::ZERO, "default", &req("k", KINESIS, &["a"]))
        .unwrap();
    let drop_sg = ModifyEndpoint {
        remove_security_groups: vec!["ep".into()],
        ..ModifyEndpoint::default()
    };
    let e = c
        .modify_endpoint(SECONDS, "default", "k", &drop_sg)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameter);
    assert!(e.message.contains("at least one Security Group"));
    let swap_sg = ModifyEndpoint {
        add_security_groups: vec!["ep2".into()],
        remove_security_groups: vec!["ep".into()],
        ..ModifyEndpoint::default()
    };
    c.modify_endpoint(SECONDS, "default", "k", &swap_sg)
        .unwrap();
    assert_eq!(
        c.topology().endpoints["k"].security_groups,
        vec!["ep2".to_string()]
    );
    let drop_subnet = ModifyEndpoint {
        remove_subnets: vec!["a".into()],
        ..ModifyEndpoint::default()
    };
    assert_eq!(
        code(c.modify_endpoint(SECONDS, "default", "k", &drop_subnet)),
        ErrorCode::InvalidParameter
    );
}

#[test]
fn fifty_endpoints_per_vpc_and_deleted_ones_do_not_count() {
    let mut c = world_with_provisioning("", "1s");
    let services: Vec<String> = crate::catalog::services(&c.topology().region)
        .iter()
        .map(|s| s.service_name.clone())
        .collect();
    for (i, service) in services.iter().cycle().take(ENDPOINTS_PER_VPC).enumerate() {
        c.create_endpoint(
            Duration::ZERO,
            "default",
            &req(&format!("e{i}"), service, &["a"]),
        )
        .unwrap();
    }
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &req("one-more", STS, &["a"]))),
        ErrorCode::VpcEndpointLimitExceeded
    );
    c.delete_endpoint(Duration::ZERO, "default", "e0").unwrap();
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "default", &req("one-more", STS, &["a"]))),
        ErrorCode::VpcEndpointLimitExceeded,
        "deleting still counts"
    );
    c.advance(SECONDS);
    c.create_endpoint(SECONDS, "default", &req("one-more", STS, &["a"]))
        .unwrap();
}

#[test]
fn only_the_owner_deletes_and_only_the_provider_accepts() {
    let source = r#"
name = "x"
[accounts.consumer]
id = "111111111111"
[accounts.provider]
id = "222222222222"
[vpcs.main]
account = "consumer"
cidr = "10.0.0.0/16"
[subnets.a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
[services.pay]
account = "provider"
acceptance_required = true
[endpoints.p]
vpc = "main"
service = "pay"
subnets = ["a"]
"#;
    let mut c = parse(Path::new("x.toml"), source).unwrap().control;
    assert_eq!(
        code(c.accept_endpoint(Duration::ZERO, "consumer", "p")),
        ErrorCode::OperationNotPermitted
    );
    assert_eq!(
        code(c.delete_endpoint(Duration::ZERO, "provider", "p")),
        ErrorCode::OperationNotPermitted
    );
    assert_eq!(
        c.accept_endpoint(Duration::ZERO, "provider", "p"),
        Ok(EndpointState::Pending)
    );
    let r = CreateEndpoint {
        vpc: "main".into(),
        service: "pay".into(),
        subnets: vec!["a".into()],
        ..CreateEndpoint::default()
    };
    assert_eq!(
        code(c.create_endpoint(Duration::ZERO, "provider", &r)),
        ErrorCode::InvalidVpcIdNotFound,
        "another account's VPC"
    );
}

#[test]
fn names_have_aws_shapes_and_order() {
    let mut c = world("");
    let mut r = req("k", "com.amazonaws.us-east-1.ecr.api", &["a", "b"]);
    r.private_dns = Some(true);
    r.id = Some("vpce-0fe5b17a0707d6abc".into());
    r.dns_suffix = Some("29p5708s".into());
    let ep = c.create_endpoint(Duration::ZERO, "default", &r).unwrap();
    let names: Vec<String> = names::dns_entries(c.topology(), &ep)
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(
        names,
        [
            "vpce-0fe5b17a0707d6abc-29p5708s.api.ecr.us-east-1.vpce.amazonaws.com",
            "vpce-0fe5b17a0707d6abc-29p5708s-us-east-1a.api.ecr.us-east-1.vpce.amazonaws.com",
            "vpce-0fe5b17a0707d6abc-29p5708s-us-east-1b.api.ecr.us-east-1.vpce.amazonaws.com",
            "api.ecr.us-east-1.amazonaws.com",
        ]
    );
    let zones: Vec<String> = names::dns_entries(c.topology(), &ep)
        .into_iter()
        .map(|e| e.hosted_zone_id)
        .collect();
    assert_eq!(zones[0], "Z7HUB22UULQXV");
    assert_eq!(zones[1], "Z7HUB22UULQXV");
    assert!(zones[3].starts_with('Z') && zones[3].len() == 13 && zones[3] != zones[0]);
    let eni = &c.topology().enis[&ep.enis[0]];
    assert!(crate::model::ids::is_valid_id("eni", &eni.id));

    let generated = c
        .create_endpoint(Duration::ZERO, "default", &req("g", STS, &["a"]))
        .unwrap();
    assert!(
        crate::model::ids::is_valid_id("vpce", &generated.id),
        "{}",
        generated.id
    );
    assert!(crate::model::ids::is_valid_dns_suffix(
        &generated.dns_suffix
    ));
}

#[test]
fn provider_service_names_use_the_service_id() {
    let mut c = world(PROVIDER);
    let ep = c
        .create_endpoint(Duration::ZERO, "default", &req("o", "open", &["a"]))
        .unwrap();
    let svc = &c.topology().services["open"];
    assert!(
        svc.service_name
            .starts_with("com.amazonaws.vpce.us-east-1.vpce-svc-")
    );
    let regional = &names::dns_entries(c.topology(), &ep)[0].name;
    assert!(
        regional.ends_with(&format!(".{}.us-east-1.vpce.amazonaws.com", svc.id)),
        "{regional}"
    );
    // The full service name works as well as the table name.
    let full = svc.service_name.clone();
    c.create_endpoint(Duration::ZERO, "default", &req("o2", &full, &["a"]))
        .unwrap();
}

#[test]
fn same_file_gives_same_ids_and_addresses() {
    let a = world(
        "[endpoints.k]\nvpc = \"main\"\nservice = \"com.amazonaws.us-east-1.sts\"\nsubnets = [\"a\", \"b\"]\n",
    );
    let b = world(
        "[endpoints.k]\nvpc = \"main\"\nservice = \"com.amazonaws.us-east-1.sts\"\nsubnets = [\"a\", \"b\"]\n",
    );
    assert_eq!(a.describe_endpoints_json(), b.describe_endpoints_json());
    assert_eq!(a.topology().vpcs["main"].id, b.topology().vpcs["main"].id);
    assert_eq!(
        a.topology().instances["web"].id,
        b.topology().instances["web"].id
    );
    let reseeded = parse(
        Path::new("t.toml"),
        &format!("seed = 9\n{BASE}[endpoints.k]\nvpc = \"main\"\nservice = \"com.amazonaws.us-east-1.sts\"\nsubnets = [\"a\", \"b\"]\n"),
    )
    .unwrap()
    .control;
    assert_ne!(
        reseeded.topology().endpoints["k"].id,
        a.topology().endpoints["k"].id
    );
    assert_ne!(
        reseeded.topology().vpcs["main"].id,
        a.topology().vpcs["main"].id
    );
}

#[test]
fn addresses_lowest_free_first_instances_before_enis_reused_after_quarantine() {
    let mut c = world("");
    // The instance `web` took 10.0.1.4.
    assert_eq!(c.topology().instances["web"].ip, Ipv4Addr::new(10, 0, 1, 4));
    let ep = c
        .create_endpoint(Duration::ZERO, "default", &req("k", KINESIS, &["a", "b"]))
        .unwrap();
    let ips: Vec<Ipv4Addr> = ep.enis.iter().map(|e| c.topology().enis[e].ip).collect();
    assert_eq!(
        ips,
        [Ipv4Addr::new(10, 0, 1, 5), Ipv4Addr::new(10, 0, 2, 4)]
    );
    c.delete_endpoint(SECONDS, "default", "k").unwrap();
    let ep = c
        .create_endpoint(2 * SECONDS, "default", &req("k2", KINESIS, &["a"]))
        .unwrap();
    assert_eq!(
        c.topology().enis[&ep.enis[0]].ip,
        Ipv4Addr::new(10, 0, 1, 6),
        "10.0.1.5 was freed but is in quarantine"
    );
    let ep = c
        .create_endpoint(SECONDS + QUARANTINE, "default", &req("k3", KINESIS, &["a"]))
        .unwrap();
    assert_eq!(
        c.topology().enis[&ep.enis[0]].ip,
        Ipv4Addr::new(10, 0, 1, 5),
        "after the quarantine the lowest free address is reused"
    );
}

/// A subnet with 11 usable addresses (a /28 less AWS's five).
const TINY: &str = r#"
[subnets.tiny]
vpc = "main"
cidr = "10.0.9.0/28"
az = "us-east-1c"
"#;

/// Fills `tiny` with eleven endpoints `t0`..`t10`.
fn fill_tiny(c: &mut ControlPlane) {
    for i in 0..11 {
        c.create_endpoint(
            Duration::ZERO,
            "default",
            &req(&format!("t{i}"), KINESIS, &["tiny"]),
        )
        .unwrap();
    }
}

#[test]
fn a_create_in_a_full_subnet_leaves_nothing_behind() {
    let mut c = world(TINY);
    fill_tiny(&mut c);
    c.advance(SECONDS);
    let (endpoints, enis, generation) = (
        c.topology().endpoints.len(),
        c.topology().enis.len(),
        c.generation(),
    );
    let err = c
        .create_endpoint(SECONDS, "default", &req("late", KINESIS, &["a", "tiny"]))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InsufficientFreeAddressesInSubnet);
    assert!(err.message.contains("10.0.9.0/28"), "{}", err.message);
    assert_eq!(c.topology().endpoints.len(), endpoints, "no endpoint");
    assert_eq!(c.topology().enis.len(), enis, "no ENI, not even in `a`");
    assert_eq!(c.generation(), generation, "nothing changed");
    // No quota used: the VPC still takes its 50 endpoints.
    for i in 11..ENDPOINTS_PER_VPC {
        c.create_endpoint(SECONDS, "default", &req(&format!("e{i}"), KINESIS, &["a"]))
            .unwrap();
    }
    // The name was never taken.
    assert_eq!(
        code(c.create_endpoint(SECONDS, "default", &req("late", KINESIS, &["a"]))),
        ErrorCode::VpcEndpointLimitExceeded
    );
}

#[test]
fn modify_that_adds_and_removes_the_same_full_subnet_leaves_the_endpoint_unchanged() {
    let mut c = world(TINY);
    fill_tiny(&mut c);
    c.advance(SECONDS);
    let before = c.topology().endpoints["t0"].clone();
    let enis = c.topology().enis.clone();
    let err = c
        .modify_endpoint(
            SECONDS,
            "default",
            "t0",
            &ModifyEndpoint {
                add_subnets: vec!["tiny".into(), "b".into()],
                remove_subnets: vec!["tiny".into()],
                ..ModifyEndpoint::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InsufficientFreeAddressesInSubnet);
    assert_eq!(c.topology().endpoints["t0"], before);
    assert_eq!(c.topology().enis, enis);
    assert_eq!(before.state, EndpointState::Available);
}

#[test]
fn churn_does_not_exhaust_a_subnet() {
    let mut c = world(TINY);
    fill_tiny(&mut c);
    let mut live: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    for round in 1..=3u32 {
        let at = QUARANTINE * (2 * round - 1);
        for name in &live {
            c.delete_endpoint(at, "default", name).unwrap();
        }
        assert_eq!(
            code(c.create_endpoint(
                at,
                "default",
                &req(&format!("early{round}"), KINESIS, &["tiny"])
            )),
            ErrorCode::InsufficientFreeAddressesInSubnet,
            "freed addresses wait out the quarantine"
        );
        let later = at + QUARANTINE;
        live = (0..11).map(|i| format!("r{round}-{i}")).collect();
        for name in &live {
            c.create_endpoint(later, "default", &req(name, KINESIS, &["tiny"]))
                .unwrap();
        }
    }
}

#[test]
fn a_huge_provisioning_delay_never_comes_due_and_never_panics() {
    // Scenario files cap durations at 365 days; the control plane itself must still not
    // overflow, whatever delay it is given.
    let mut c = ControlPlane::new(world("").topology().clone(), 0, Duration::MAX);
    c.create_endpoint(Duration::ZERO, "default", &req("k", KINESIS, &["a"]))
        .unwrap();
    c.create_endpoint(SECONDS, "default", &req("k2", KINESIS, &["b"]))
        .unwrap();
    c.advance(Duration::MAX);
    assert_eq!(c.topology().endpoints["k"].state, EndpointState::Available);
    c.delete_endpoint(Duration::MAX, "default", "k").unwrap();
    c.advance(Duration::MAX);
    assert_eq!(c.timestamp(Duration::MAX), "9999-12-31T23:59:59.999Z");
}

#[test]
fn without_commit_validates_and_changes_nothing() {
    let mut c = world(PROVIDER);
    let mut twin = world(PROVIDER);
    for w in [&mut c, &mut twin] {
        w.create_endpoint(Duration::ZERO, "default", &req("k", KINESIS, &["a"]))
            .unwrap();
    }
    c.advance(SECONDS);
    let generation = c.generation();
    let before = c.topology().clone();
    c.without_commit(|c| {
        let dry = |r: Result<(), ApiError>| r.unwrap_err().code;
        assert_eq!(
            dry(c
                .create_endpoint(SECONDS, "default", &req("n", STS, &["a"]))
                .map(|_| ())),
            ErrorCode::DryRunOperation
        );
        assert_eq!(
            dry(c
                .create_endpoint(SECONDS, "default", &req("n", STS, &["nope"]))
                .map(|_| ())),
            ErrorCode::InvalidSubnetIdNotFound,
            "validation still runs"
        );
        let add_b = ModifyEndpoint {
            add_subnets: vec!["b".into()],
            ..ModifyEndpoint::default()
        };
        assert_eq!(
            dry(c.modify_endpoint(SECONDS, "default", "k", &add_b)),
            ErrorCode::DryRunOperation
        );
        assert_eq!(
            dry(c.delete_endpoint(SECONDS, "default", "k").map(|_| ())),
            ErrorCode::DryRunOperation
        );
        let id = c.topology().endpoints["k"].id.clone();
        assert_eq!(
            dry(c.create_tags(SECONDS, "default", &[id], &[("a".into(), "b".into())])),
            ErrorCode::DryRunOperation
        );
    });
    assert_eq!(c.generation(), generation);
    assert_eq!(c.topology().endpoints, before.endpoints);
    assert_eq!(c.topology().enis, before.enis);
    // The dry run drew no IDs: the next create gets the same IDs as in a twin world.
    let ours = c
        .create_endpoint(SECONDS, "default", &req("n", STS, &["b"]))
        .unwrap();
    let theirs = twin
        .create_endpoint(SECONDS, "default", &req("n", STS, &["b"]))
        .unwrap();
    assert_eq!((ours.id, ours.enis), (theirs.id, theirs.enis));
}

#[test]
fn common_azs_by_az_id_in_the_askers_names() {
    let source = r#"
name = "x"
[accounts.consumer]
id = "111111111111"
az_ids = { us-east-1a = "use1-az2", us-east-1b = "use1-az4", us-east-1c = "use1-az1" }
[accounts.provider]
id = "222222222222"
[vpcs.main]
account = "consumer"
cidr = "10.0.0.0/16"
[services.pay]
account = "provider"
az_ids = ["use1-az1", "use1-az3"]
"#;
    let c = parse(Path::new("x.toml"), source).unwrap().control;
    let (_, azs) = c.describe_service("pay", "consumer").unwrap();
    // use1-az1 is the consumer's 1c; use1-az3 is the consumer's 1d (1d keeps az3? no:
    // 1c claimed az1, so 1d's default az4 is claimed by 1b and 1d takes a spare ID).
    let consumer = &c.topology().accounts["consumer"];
    let expected: Vec<String> = ["use1-az1", "use1-az3"]
        .iter()
        .filter_map(|id| consumer.az_name(id).map(str::to_string))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(azs.names, expected);
    assert!(azs.names.contains(&"us-east-1c".to_string()));
    let (_, provider_view) = c.describe_service("pay", "provider").unwrap();
    assert_eq!(provider_view.names, ["us-east-1a", "us-east-1c"]);
    let (_, all) = c.describe_service(KINESIS, "consumer").unwrap();
    assert_eq!(all.names.len(), 6, "AWS services are in every AZ");
    assert_eq!(
        code(c.describe_service("com.amazonaws.us-east-1.nope", "consumer")),
        ErrorCode::InvalidServiceName
    );
}

#[test]
fn notifications_are_delivered_from_the_moment_they_exist() {
    let mut c = world(PROVIDER);
    let topic = "arn:aws:sns:us-east-1:123456789012:t";
    c.create_notification(
        NotificationTarget::Service("pay".into()),
        topic,
        vec![
            crate::model::ConnectionEvent::Connect,
            crate::model::ConnectionEvent::Accept,
            crate::model::ConnectionEvent::Delete,
        ],
    )
    .unwrap();
    c.create_endpoint(Duration::ZERO, "default", &req("p", "pay", &["a"]))
        .unwrap();
    let mine = "arn:aws:sns:us-east-1:123456789012:mine";
    c.create_notification(
        NotificationTarget::Endpoint("p".into()),
        mine,
        vec![
            crate::model::ConnectionEvent::Accept,
            crate::model::ConnectionEvent::Reject,
        ],
    )
    .unwrap();
    c.accept_endpoint(SECONDS, "default", "p").unwrap();
    c.advance(SECONDS);
    c.reject_endpoint(2 * SECONDS, "default", "p").unwrap();
    c.delete_endpoint(3 * SECONDS, "default", "p").unwrap();
    let events = |t: &str| {
        c.deliveries(t)
            .iter()
            .map(|d| d.event.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(events(topic), ["Connect", "Accept", "Delete"]);
    assert_eq!(events(mine), ["Accept", "Reject"]);
    let first = &c.deliveries(topic)[0];
    assert_eq!(first.vpc_endpoint_state, "pendingAcceptance");
    assert_eq!(first.vpc_endpoint_owner, "111111111111");
    assert!(first.service_id.starts_with("vpce-svc-"));
    assert_eq!(first.time, "2025-01-01T00:00:00.000Z");
    assert!(c.deliveries("arn:aws:sns:us-east-1:1:none").is_empty());
}

#[test]
fn describe_json_has_the_cli_shape() {
    let c = world(
        "[endpoints.k]\nvpc = \"main\"\nservice = \"com.amazonaws.us-east-1.elasticloadbalancing\"\nsubnets = [\"a\"]\nsecurity_groups = [\"ep\"]\ntags = { Name = \"elb\" }\n",
    );
    let json = c.describe_endpoints_json();
    let ep = &json["VpcEndpoints"][0];
    let keys: Vec<&str> = ep.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "VpcEndpointId",
            "VpcEndpointType",
            "VpcId",
            "ServiceName",
            "State",
            "PolicyDocument",
            "RouteTableIds",
            "SubnetIds",
            "Groups",
            "IpAddressType",
            "DnsOptions",
            "PrivateDnsEnabled",
            "RequesterManaged",
            "NetworkInterfaceIds",
            "DnsEntries",
            "CreationTimestamp",
            "Tags",
            "OwnerId"
        ]
    );
    assert_eq!(ep["VpcEndpointType"], "Interface");
    assert_eq!(ep["State"], "available");
    assert_eq!(ep["PrivateDnsEnabled"], true);
    assert_eq!(ep["DnsEntries"].as_array().unwrap().len(), 3);
    assert_eq!(
        ep["DnsEntries"][2]["DnsName"],
        "elasticloadbalancing.us-east-1.amazonaws.com"
    );
    assert_eq!(ep["Groups"][0]["GroupName"], "ep");
    assert_eq!(ep["Tags"][0]["Key"], "Name");
    assert_eq!(ep["RequesterManaged"], false);
    assert_eq!(ep["OwnerId"], "111111111111");
    let policy: serde_json::Value =
        serde_json::from_str(ep["PolicyDocument"].as_str().unwrap()).unwrap();
    assert_eq!(policy["Statement"][0]["Effect"], "Allow");
}
