//! Every class of malformed scenario is rejected with the file, line, column and a
//! message that names the problem.

use std::path::Path;

use super::*;

const TOPOLOGY: &str = r#"name = "t"
[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true
[subnets.a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
[subnets.b]
vpc = "main"
cidr = "10.0.2.0/24"
az = "us-east-1b"
[instances.web]
subnet = "a"
[endpoints.k]
vpc = "main"
service = "com.amazonaws.us-east-1.sts"
subnets = ["a"]
"#;

/// Loads `source`; a problem mentioning `needle` must be reported at `line` (1-based).
#[track_caller]
fn rejects(source: &str, line: usize, needle: &str) -> Diagnostic {
    let Err(error) = parse(Path::new("bad.toml"), source) else {
        panic!("loaded, but should fail with `{needle}`:\n{source}")
    };
    assert_eq!(error.file, Path::new("bad.toml"));
    let Some(problem) = error
        .diagnostics
        .iter()
        .find(|d| d.message.contains(needle))
    else {
        panic!("no problem mentions `{needle}`:\n{error}")
    };
    assert_eq!(problem.file, Path::new("bad.toml"));
    assert_eq!(problem.line, line, "wrong line for: {problem}");
    assert!(problem.column >= 1, "{problem}");
    problem.clone()
}

/// The line number of the first line of `source` containing `needle`.
fn line_of(source: &str, needle: &str) -> usize {
    source
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in source")
}

#[track_caller]
fn rejects_at(source: &str, marker: &str, needle: &str) -> Diagnostic {
    rejects(source, line_of(source, marker), needle)
}

#[test]
fn the_base_topology_loads() {
    let s = parse(Path::new("ok.toml"), TOPOLOGY).unwrap();
    assert_eq!(s.name, "t");
    assert!(s.steps.is_empty());
}

#[test]
fn unknown_keys_are_rejected_where_they_are() {
    let src = TOPOLOGY.replace("dns_hostnames = true", "dns_hostname = true");
    let e = rejects_at(&src, "dns_hostname =", "unknown field `dns_hostname`");
    assert_eq!(e.column, 1);
    assert!(e.to_string().starts_with("bad.toml:4:1: "), "{e}");
    rejects_at(
        &format!("colour = \"blue\"\n{TOPOLOGY}"),
        "colour",
        "unknown field `colour`",
    );
    let steps = format!("{TOPOLOGY}[[steps]]\nwait = \"1s\"\nsleep = true\n");
    rejects_at(&steps, "sleep", "unknown field `sleep`");
}

#[test]
fn malformed_toml_and_wrong_types() {
    rejects("name = \"t\"\n[vpcs.main\ncidr = 1\n", 2, "");
    rejects_at(
        &TOPOLOGY.replace("cidr = \"10.0.0.0/16\"", "cidr = 10"),
        "cidr = 10",
        "invalid type",
    );
    rejects(
        &TOPOLOGY.replace("name = \"t\"\n", ""),
        1,
        "missing field `name`",
    );
}

#[test]
fn bad_cidrs() {
    rejects_at(
        &TOPOLOGY.replace("10.0.0.0/16", "10.0.0.0/33"),
        "10.0.0.0/33",
        "is not a valid CIDR",
    );
    rejects_at(
        &TOPOLOGY.replace("10.0.0.0/16", "10.0.0.1/16"),
        "10.0.0.1/16",
        "did you mean `10.0.0.0/16`",
    );
    rejects_at(
        &TOPOLOGY.replace("10.0.0.0/16", "10.0.0.0/8"),
        "10.0.0.0/8",
        "between /16 and /28",
    );
    rejects_at(
        &TOPOLOGY.replace("10.0.0.0/16", "fd00::/56"),
        "fd00::/56",
        "IPv4 only",
    );
}

#[test]
fn subnets_outside_or_overlapping() {
    rejects_at(
        &TOPOLOGY.replace("10.0.2.0/24", "10.9.2.0/24"),
        "10.9.2.0/24",
        "outside its VPC",
    );
    rejects_at(
        &TOPOLOGY.replace("10.0.2.0/24", "10.0.1.128/25"),
        "10.0.1.128/25",
        "overlaps subnet `a`",
    );
    rejects_at(
        &TOPOLOGY.replace("10.0.2.0/24", "10.0.2.0/29"),
        "10.0.2.0/29",
        "smaller than /28",
    );
}

#[test]
fn instance_addresses() {
    let with_ip = |ip: &str| {
        TOPOLOGY.replace(
            "subnet = \"a\"\n[endpoints",
            &format!("subnet = \"a\"\nip = \"{ip}\"\n[endpoints"),
        )
    };
    rejects_at(&with_ip("10.0.1.3"), "ip = ", "reserved by AWS");
    rejects_at(&with_ip("10.0.1.255"), "ip = ", "reserved by AWS");
    rejects_at(&with_ip("10.0.2.10"), "ip = ", "outside subnet `a`");
    rejects_at(&with_ip("10.0.1"), "ip = ", "not an IPv4 address");
    let twice = format!(
        "{}[instances.db]\nsubnet = \"a\"\nip = \"10.0.1.9\"\n",
        with_ip("10.0.1.9")
    );
    let line = twice
        .lines()
        .collect::<Vec<_>>()
        .iter()
        .rposition(|l| l.contains("ip = "))
        .unwrap()
        + 1;
    rejects(&twice, line, "already taken");
}

#[test]
fn unknown_references() {
    rejects_at(
        &TOPOLOGY.replace(
            "vpc = \"main\"\ncidr = \"10.0.2.0/24\"",
            "vpc = \"mian\"\ncidr = \"10.0.2.0/24\"",
        ),
        "\"mian\"",
        "unknown VPC `mian` (known: main)",
    );
    rejects_at(
        &TOPOLOGY.replace(
            "[instances.web]\nsubnet = \"a\"",
            "[instances.web]\nsubnet = \"c\"",
        ),
        "subnet = \"c\"",
        "unknown subnet `c`",
    );
    let sg = TOPOLOGY.replace(
        "[instances.web]\nsubnet = \"a\"",
        "[instances.web]\nsubnet = \"a\"\nsecurity_groups = [\"web\"]",
    );
    rejects_at(&sg, "[\"web\"]", "unknown security group `web`");
    let nacl = TOPOLOGY.replace(
        "az = \"us-east-1b\"",
        "az = \"us-east-1b\"\nnacl = \"strict\"",
    );
    rejects_at(&nacl, "nacl = ", "unknown network ACL `strict`");
    let step = format!(
        "{TOPOLOGY}[[steps]]\nresolve = \"x.example.com\"\nfrom = \"db\"\nexpect = {{ rcode = \"REFUSED\" }}\n"
    );
    rejects_at(
        &step,
        "from = \"db\"",
        "unknown instance or on-premises host `db`",
    );
    let step =
        format!("{TOPOLOGY}[[steps]]\ndelete_endpoint = \"kinesis\"\nexpect = {{ ok = true }}\n");
    rejects_at(&step, "delete_endpoint", "unknown endpoint `kinesis`");
    let step = format!(
        "{TOPOLOGY}[[steps]]\nconnect = \"{{kinesis}}:443\"\nfrom = \"web\"\nexpect = {{ outcome = \"connected\" }}\n"
    );
    rejects_at(&step, "connect =", "names no endpoint");
}

#[test]
fn endpoint_errors_carry_the_aws_code_and_point_at_the_key() {
    let bad = TOPOLOGY.replace("subnets = [\"a\"]", "subnets = [\"a\", \"nope\"]");
    rejects_at(&bad, "subnets = ", "InvalidSubnetID.NotFound");
    let same_az = format!(
        "{}[subnets.a2]\nvpc = \"main\"\ncidr = \"10.0.3.0/24\"\naz = \"us-east-1a\"\n",
        TOPOLOGY.replace("subnets = [\"a\"]", "subnets = [\"a\", \"a2\"]")
    );
    rejects_at(&same_az, "subnets = ", "DuplicateSubnetsInSameZone");
    let svc = TOPOLOGY.replace(
        "com.amazonaws.us-east-1.sts",
        "com.amazonaws.us-east-1.stss",
    );
    rejects_at(&svc, "service = ", "InvalidServiceName");
    let dns = TOPOLOGY.replace("dns_hostnames = true\n", "");
    let e = rejects_at(&dns, "[endpoints.k]", "InvalidParameter");
    assert!(e.message.contains("enableDnsHostnames"), "{e}");
    let dns = dns.replace(
        "subnets = [\"a\"]\n",
        "subnets = [\"a\"]\nprivate_dns = true\n",
    );
    rejects_at(&dns, "private_dns = true", "enableDnsSupport");
}

#[test]
fn nacl_and_security_group_rules() {
    let nacl = |entries: &str| {
        format!("{TOPOLOGY}[nacls.strict]\nvpc = \"main\"\ninbound = [\n{entries}\n]\n")
    };
    let dup = nacl(
        "{ rule = 100, proto = \"tcp\", ports = 443, cidr = \"10.0.0.0/16\", action = \"allow\" },\n{ rule = 100, proto = \"tcp\", ports = 80, cidr = \"10.0.0.0/16\", action = \"deny\" },",
    );
    rejects_at(&dup, "ports = 80", "rule number 100 appears twice");
    rejects_at(
        &nacl(
            "{ rule = 0, proto = \"tcp\", ports = 443, cidr = \"10.0.0.0/16\", action = \"allow\" },",
        ),
        "rule = 0",
        "1 to 32766",
    );
    rejects_at(
        &nacl(
            "{ rule = 1, proto = \"tcp\", ports = \"9000-80\", cidr = \"10.0.0.0/16\", action = \"allow\" },",
        ),
        "9000-80",
        "starts above where it ends",
    );
    rejects_at(
        &nacl(
            "{ rule = 1, proto = \"tcp\", ports = 70000, cidr = \"10.0.0.0/16\", action = \"allow\" },",
        ),
        "70000",
        "out of range",
    );
    rejects_at(
        &nacl(
            "{ rule = 1, proto = \"tcp\", ports = 1, cidr = \"10.0.0.0/16\", action = \"permit\" },",
        ),
        "permit",
        "`allow` or `deny`",
    );
    rejects_at(
        &nacl(
            "{ rule = 1, proto = \"sctp\", ports = 1, cidr = \"10.0.0.0/16\", action = \"allow\" },",
        ),
        "sctp",
        "not a protocol",
    );
    let sg = |rule: &str| {
        format!("{TOPOLOGY}[security_groups.ep]\nvpc = \"main\"\ningress = [\n{rule}\n]\n")
    };
    rejects_at(
        &sg("{ proto = \"tcp\", ports = 443, cidr = \"10.0.0.0/16\", sg = \"default\" },"),
        "sg = ",
        "both `cidr` and `sg`",
    );
    rejects_at(
        &sg("{ proto = \"tcp\", ports = 443 },"),
        "ports = 443",
        "needs `cidr` or `sg`",
    );
    rejects_at(
        &sg("{ proto = \"tcp\", cidr = \"10.0.0.0/16\" },"),
        "proto = ",
        "needs `ports`",
    );
    // `all` and `icmp` need no ports.
    parse(
        Path::new("ok.toml"),
        &sg("{ proto = \"all\", sg = \"default\" },"),
    )
    .unwrap();
}

#[test]
fn steps_need_exactly_one_action_and_only_its_keys() {
    let step = |body: &str| format!("{TOPOLOGY}[[steps]]\n{body}\n");
    rejects_at(
        &step("from = \"web\"\nexpect = { ok = true }"),
        "[[steps]]",
        "has no action",
    );
    rejects_at(
        &step("wait = \"1s\"\ndelete_endpoint = \"k\"\nexpect = { ok = true }"),
        "delete_endpoint",
        "has two actions",
    );
    rejects_at(
        &step("wait = \"1s\"\nfrom = \"web\""),
        "from = ",
        "not a parameter of `wait`",
    );
    rejects_at(
        &step("delete_endpoint = \"k\"\nexpect = { outcome = \"connected\" }"),
        "expect = ",
        "does not apply to `delete_endpoint`",
    );
    rejects_at(
        &step("delete_endpoint = \"k\""),
        "[[steps]]",
        "needs `expect`",
    );
    rejects_at(&step("resolve = \"{k}\""), "[[steps]]", "needs `from`");
    rejects_at(
        &step("resolve = \"{k}\"\nfrom = \"web\"\nexpect = { rcode = \"NOPE\" }"),
        "expect = ",
        "not an rcode",
    );
    rejects_at(
        &step("connect = \"{k}\"\nfrom = \"web\"\nexpect = { outcome = \"connected\" }"),
        "connect = ",
        "not HOST:PORT",
    );
    rejects_at(
        &step("connect = \"{k}:443\"\nfrom = \"web\"\nexpect = { outcome = \"completed\" }"),
        "expect = ",
        "not an outcome of `connect`",
    );
    rejects_at(
        &step(
            "connect = \"{k}:443\"\nfrom = \"web\"\nexpect = { blocked_by = { kind = \"firewall\" } }",
        ),
        "expect = ",
        "not a kind of block",
    );
    rejects_at(
        &step("describe_endpoint = \"k\"\nexpect = { state = \"Available\" }"),
        "expect = ",
        "not an endpoint state",
    );
    rejects_at(
        &step(
            "connect = \"{k@eu-west-1a}:443\"\nfrom = \"web\"\nexpect = { outcome = \"connected\" }",
        ),
        "connect = ",
        "not an AZ name of us-east-1",
    );
}

#[test]
fn sizes_durations_and_azs() {
    let step = |body: &str| format!("{TOPOLOGY}[[steps]]\n{body}\n");
    rejects_at(
        &step(
            "transfer = \"{k}:443\"\nfrom = \"web\"\nbytes = \"ten gigs\"\nexpect = { outcome = \"completed\" }",
        ),
        "ten gigs",
        "is not a size",
    );
    rejects_at(&step("wait = \"soon\""), "soon", "not a duration");
    rejects_at(
        &TOPOLOGY.replace("az = \"us-east-1b\"", "az = \"eu-west-1b\""),
        "eu-west-1b",
        "is in eu-west-1, but this file's Region is us-east-1",
    );
    rejects_at(
        &TOPOLOGY.replace("az = \"us-east-1b\"", "az = \"us-east-1\""),
        "az = \"us-east-1\"",
        "not an AZ name of us-east-1",
    );
    rejects_at(
        &format!("region = \"mars-1\"\n{TOPOLOGY}"),
        "mars-1",
        "is not an AWS Region",
    );
    let acc = "[accounts.me]\nid = \"12345\"\n".to_string();
    rejects_at(
        &TOPOLOGY.replacen("[vpcs.main]", &format!("{acc}[vpcs.main]"), 1),
        "\"12345\"",
        "12 digits",
    );
}

#[test]
fn several_accounts_need_an_owner_and_default_needs_a_vpc() {
    let two =
        "[accounts.a]\nid = \"111111111111\"\n[accounts.b]\nid = \"222222222222\"\n".to_string();
    let src = TOPOLOGY.replacen("[vpcs.main]", &format!("{two}[vpcs.main]"), 1);
    rejects_at(&src, "[vpcs.main]", "must name its `account`");
    let two_vpcs = format!(
        "{TOPOLOGY}[vpcs.other]\ncidr = \"10.1.0.0/16\"\n[[steps]]\nset_security_group = \"default\"\ningress = []\nexpect = {{ ok = true }}\n"
    );
    rejects_at(&two_vpcs, "set_security_group", "`default` is ambiguous");
}

#[test]
fn steps_name_the_only_vpcs_default_groups_and_nacl_as_default() {
    // Steps are checked against the topology after the file's endpoints exist; with one
    // VPC, `default` names its default security group and NACL there too.
    let src = format!(
        "{TOPOLOGY}[[steps]]\nset_security_group = \"default\"\ningress = [ {{ proto = \"tcp\", ports = 443, sg = \"default\" }} ]\nexpect = {{ ok = true }}\n[[steps]]\nset_nacl = \"default\"\ninbound = []\nexpect = {{ ok = true }}\n"
    );
    let scenario = parse(Path::new("ok.toml"), &src).expect("loads");
    assert_eq!(scenario.steps.len(), 2);
}

#[test]
fn no_input_panics() {
    // Truncations and byte flips of a valid file: every one loads or fails cleanly.
    let full = format!(
        "{TOPOLOGY}[[steps]]\nconnect = \"{{k@us-east-1a}}:443\"\nfrom = \"web\"\nexpect = {{ outcome = \"connected\", blocked_by = {{ kind = \"network_acl\", rule = \"*\" }} }}\n"
    );
    for cut in (0..full.len()).step_by(7) {
        if let Some(prefix) = full.get(..cut) {
            let _ = parse(Path::new("cut.toml"), prefix);
        }
    }
    let bytes = full.as_bytes();
    for i in (0..bytes.len()).step_by(3) {
        let mut flipped = bytes.to_vec();
        flipped[i] = b"{}[]=\"\n#.,0x"[i % 12];
        if let Ok(text) = String::from_utf8(flipped) {
            let _ = parse(Path::new("flip.toml"), &text);
        }
    }
}

#[test]
fn ports_are_rejected_where_the_protocol_has_none() {
    let sg = |rule: &str| {
        format!("{TOPOLOGY}[security_groups.g]\nvpc = \"main\"\ningress = [\n{rule}\n]\n")
    };
    rejects_at(
        &sg("{ proto = \"all\", ports = 443, cidr = \"10.0.0.0/16\" },"),
        "proto = \"all\"",
        "`ports` does not apply to a `all` rule",
    );
    rejects_at(
        &sg("{ proto = \"icmp\", ports = \"0-65535\", cidr = \"10.0.0.0/16\" },"),
        "proto = \"icmp\"",
        "`ports` does not apply to a `icmp` rule",
    );
    let nacl = format!(
        "{TOPOLOGY}[nacls.n]\nvpc = \"main\"\ninbound = [\n{{ rule = 1, proto = \"all\", ports = 443, cidr = \"0.0.0.0/0\", action = \"allow\" }},\n]\n"
    );
    rejects_at(&nacl, "rule = 1", "`ports` does not apply");
    let step = format!(
        "{TOPOLOGY}[[steps]]\nset_nacl = \"default\"\noutbound = [\n{{ rule = 5, proto = \"icmp\", ports = 8, cidr = \"0.0.0.0/0\", action = \"allow\" }},\n]\nexpect = {{ ok = true }}\n"
    );
    rejects_at(&step, "rule = 5", "`ports` does not apply to a `icmp` rule");
}

#[test]
fn network_steps_must_expect_something() {
    let step = |body: &str| format!("{TOPOLOGY}[[steps]]\n{body}\n");
    for (body, action) in [
        ("resolve = \"{k}\"\nfrom = \"web\"\nexpect = {}", "resolve"),
        (
            "connect = \"{k}:443\"\nfrom = \"web\"\nexpect = {}",
            "connect",
        ),
        (
            "transfer = \"{k}:443\"\nfrom = \"web\"\nbytes = 10\nexpect = { tolerance = 0.1 }",
            "transfer",
        ),
    ] {
        let e = rejects_at(
            &step(body),
            "expect = ",
            "expects nothing, so it could never fail",
        );
        assert!(e.message.contains(&format!("step 1 (`{action}`)")), "{e}");
    }
    // Control-plane steps keep `ok = true` as their default.
    parse(
        Path::new("ok.toml"),
        &step("describe_endpoint = \"k\"\nexpect = {}"),
    )
    .unwrap();
}

#[test]
fn simulated_time_and_sizes_are_bounded() {
    let step = |body: &str| format!("{TOPOLOGY}[[steps]]\n{body}\n");
    let huge = "wait = \"18446744073709551615s\"";
    rejects_at(&step(huge), huge, "longer than 365 days");
    rejects_at(
        &format!("provisioning = \"18446744073709551615s\"\n{TOPOLOGY}"),
        "provisioning",
        "longer than 365 days",
    );
    rejects_at(
        &step(
            "connect = \"{k}:443\"\nfrom = \"web\"\ntimeout = \"400d\"\nexpect = { outcome = \"timeout\" }",
        ),
        "timeout = ",
        "longer than 365 days",
    );
    rejects_at(
        &step(
            "transfer = \"{k}:443\"\nfrom = \"web\"\nbytes = \"1000000TB\"\nexpect = { outcome = \"completed\" }",
        ),
        "bytes = ",
        "at most 1 TB",
    );
    rejects_at(
        &step(
            "transfer = \"{k}:443\"\nfrom = \"web\"\nbytes = 1000000000001\nexpect = { outcome = \"completed\" }",
        ),
        "bytes = ",
        "at most 1 TB",
    );
    parse(
        Path::new("ok.toml"),
        &step("transfer = \"{k}:443\"\nfrom = \"web\"\nbytes = \"1TB\"\nexpect = { outcome = \"completed\" }"),
    )
    .unwrap();
    // Two of the longest waits run without overflowing the clock.
    let two = format!("{TOPOLOGY}[[steps]]\nwait = \"365d\"\n[[steps]]\nwait = \"365d\"\n");
    let scenario = parse(Path::new("ok.toml"), &two).unwrap();
    let outcomes = super::runner::run(scenario, |_| {});
    assert!(outcomes.iter().all(|o| o.passed), "{outcomes:?}");
}

#[test]
fn a_file_has_at_most_100000_steps() {
    let mut src = TOPOLOGY.to_string();
    for _ in 0..=super::units::MAX_STEPS {
        src.push_str("[[steps]]\nwait = \"1s\"\n");
    }
    let e = parse(Path::new("big.toml"), &src).unwrap_err();
    let e = e.first();
    assert!(
        e.message
            .contains("more than the 100000 a scenario may have"),
        "{e}"
    );
    let first_extra = TOPOLOGY.lines().count() + 2 * super::units::MAX_STEPS + 1;
    assert_eq!(e.line, first_extra, "{e}");
}

#[test]
fn loading_is_linear_in_the_number_of_steps() {
    // Each step's line used to be found by scanning the file from its top, so 20,000
    // steps took 17 s. Loading 8 times more steps must take well under 8 x 8 times as long.
    let load = |steps: usize| {
        let mut src = TOPOLOGY.to_string();
        for _ in 0..steps {
            src.push_str("[[steps]]\nwait = \"1s\"\n");
        }
        let start = std::time::Instant::now();
        let scenario = parse(Path::new("many.toml"), &src).unwrap();
        assert_eq!(scenario.steps.len(), steps);
        assert_eq!(
            scenario.steps[steps - 1].line,
            TOPOLOGY.lines().count() + 2 * steps - 1
        );
        start.elapsed()
    };
    let small = load(5_000).max(std::time::Duration::from_millis(5));
    let large = load(40_000);
    assert!(
        large < small * 24,
        "5,000 steps took {small:?}, 40,000 took {large:?}: not linear"
    );
}

#[test]
fn vpc_and_onprem_ranges_must_be_usable() {
    for (cidr, kind) in [
        ("224.0.0.0/16", "multicast"),
        ("0.0.0.0/16", "\"this\" network"),
        ("127.0.0.0/16", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("240.0.0.0/16", "reserved"),
    ] {
        let src = TOPOLOGY.replace("10.0.0.0/16", cidr);
        let e = rejects_at(&src, cidr, "which AWS does not accept for a VPC");
        assert!(e.message.contains(kind), "{e}");
    }
    let onprem = format!(
        "{TOPOLOGY}[onprem.office]\ncidr = \"169.254.0.0/16\"\nvpc = \"main\"\nvia = \"vpn\"\n"
    );
    rejects_at(
        &onprem,
        "169.254.0.0/16",
        "on-premises range `169.254.0.0/16` lies in 169.254.0.0/16",
    );
}

#[test]
fn a_name_may_be_created_again_and_means_its_latest_endpoint() {
    // A create that fails binds nothing: "fix the VPC attribute, try again" works, and a
    // deleted endpoint's name can be created again.
    let src = format!(
        "{}[[steps]]
create_endpoint = {{ name = \"ssm\", vpc = \"main\", service = \"com.amazonaws.us-east-1.ssm\", subnets = [\"a\"] }}
expect = {{ error = \"InvalidParameter\" }}
[[steps]]
set_vpc = \"main\"
dns_hostnames = true
expect = {{ ok = true }}
[[steps]]
create_endpoint = {{ name = \"ssm\", vpc = \"main\", service = \"com.amazonaws.us-east-1.ssm\", subnets = [\"a\"] }}
expect = {{ ok = true, state = \"pending\" }}
[[steps]]
resolve = \"ssm.us-east-1.amazonaws.com\"
from = \"web\"
expect = {{ answers = \"endpoint:ssm\", count = 1 }}
[[steps]]
delete_endpoint = \"ssm\"
expect = {{ state = \"deleting\" }}
[[steps]]
create_endpoint = {{ name = \"ssm\", vpc = \"main\", service = \"com.amazonaws.us-east-1.ssm\", subnets = [\"a\", \"b\"] }}
expect = {{ state = \"pending\" }}
[[steps]]
describe_endpoint = \"ssm\"
expect = {{ state = \"available\", subnets = 2 }}
[[steps]]
resolve = \"{{ssm}}\"
from = \"web\"
expect = {{ answers = \"endpoint:ssm\", count = 2 }}
",
        TOPOLOGY.replace("dns_hostnames = true", "dns_hostnames = false") + "private_dns = false\n"
    );
    let scenario = parse(Path::new("retry.toml"), &src).expect("a name may be created again");
    let outcomes = super::runner::run(scenario, |_| {});
    for o in &outcomes {
        assert!(o.passed, "step {} ({}): {}", o.index, o.action, o.message());
    }
    // A name that no earlier step could have created is still a load error.
    let never = format!("{TOPOLOGY}[[steps]]\ndescribe_endpoint = \"nope\"\nexpect = {{}}\n");
    rejects_at(&never, "describe_endpoint", "unknown endpoint `nope`");
    let later = format!(
        "{TOPOLOGY}[[steps]]\ndelete_endpoint = \"x\"\nexpect = {{}}\n[[steps]]\ncreate_endpoint = {{ name = \"x\", vpc = \"main\", service = \"com.amazonaws.us-east-1.sts\", subnets = [\"a\"] }}\nexpect = {{}}\n"
    );
    rejects_at(&later, "delete_endpoint", "unknown endpoint `x`");
}

#[test]
fn every_problem_of_a_file_is_reported_once_in_file_order() {
    // Three independent mistakes in the topology and two in the steps: all five are
    // reported. The subnet and the instance that depend on the broken VPC are not
    // reported again: one mistake, one message.
    let src = r#"name = "t"
[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true
[vpcs.broken]
cidr = "224.0.0.0/16"
[subnets.a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
[subnets.b]
vpc = "main"
cidr = "10.9.2.0/24"
az = "us-east-1b"
[subnets.c]
vpc = "broken"
cidr = "224.0.1.0/24"
az = "us-east-1a"
[instances.web]
subnet = "a"
[instances.lost]
subnet = "c"
[security_groups.g]
vpc = "main"
ingress = [ { proto = "all", ports = 443, cidr = "10.0.0.0/16" } ]
[[steps]]
resolve = "{nope}"
from = "web"
expect = { rcode = "NOERROR" }
[[steps]]
wait = "1s"
[[steps]]
connect = "10.0.1.4:443"
from = "lost"
expect = { outcome = "connected" }
[[steps]]
connect = "10.0.1.4:443"
from = "web"
expect = {}
"#;
    let error = parse(Path::new("many.toml"), src).unwrap_err();
    let lines: Vec<usize> = error.diagnostics.iter().map(|d| d.line).collect();
    let expected = [
        line_of(src, "224.0.0.0/16"),
        line_of(src, "10.9.2.0/24"),
        line_of(src, "ports = 443"),
        line_of(src, "{nope}"),
        src.lines().count(),
    ];
    assert_eq!(lines, expected, "{error}");
    assert!(
        error.diagnostics[0].message.contains("multicast"),
        "{error}"
    );
    assert!(
        error.diagnostics[4]
            .message
            .contains("step 4 (`connect`) expects nothing"),
        "{error}"
    );
    assert!(
        !error.to_string().contains("`lost`"),
        "a consequence was reported: {error}"
    );
    assert!(!error.to_string().contains("subnet `c`"), "{error}");
}

#[test]
fn a_failed_declared_endpoint_is_reported_once() {
    let src = format!(
        "{}[[steps]]\nresolve = \"{{k}}\"\nfrom = \"web\"\nexpect = {{ rcode = \"NOERROR\" }}\n[[steps]]\ndescribe_endpoint = \"k\"\nexpect = {{ state = \"available\" }}\n",
        TOPOLOGY.replace(
            "com.amazonaws.us-east-1.sts",
            "com.amazonaws.us-east-1.nope"
        )
    );
    let error = parse(Path::new("ep.toml"), &src).unwrap_err();
    assert_eq!(error.diagnostics.len(), 1, "{error}");
    assert!(
        error.first().message.contains("InvalidServiceName"),
        "{error}"
    );
}
