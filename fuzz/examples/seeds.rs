//! Writes the committed seed corpus into `fuzz/seeds/<target>/` (replacing what is
//! there): valid and malformed DNS queries for every resolver the `dns_wire` target
//! serves, EC2 request sessions as the AWS CLI sends them for `api_request`, and broken
//! scenario files for `scenario_load` (the repository's own scenarios are passed to
//! libFuzzer as a corpus directory of their own, so they are not copied).
//!
//! `fuzz/fuzz.sh seeds` runs it.

use std::path::{Path, PathBuf};

use vpcesim_fuzz::dns::query;
use vpcesim_fuzz::{api, dns, repo_root};

fn main() {
    let root = repo_root().join("fuzz/seeds");
    write_all(&root.join("dns_wire"), dns_seeds());
    write_all(&root.join("api_request"), api_seeds());
    write_all(&root.join("scenario_load"), scenario_seeds());
}

fn write_all(dir: &Path, seeds: Vec<(String, Vec<u8>)>) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("remove the old seeds");
    }
    std::fs::create_dir_all(dir).expect("create the seed directory");
    let count = seeds.len();
    for (name, bytes) in seeds {
        let path: PathBuf = dir.join(name);
        std::fs::write(&path, bytes).expect("write a seed");
    }
    println!("{count} seeds in {}", dir.display());
}

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const TYPE_AXFR: u16 = 252;
const TYPE_ANY: u16 = 255;

fn dns_seeds() -> Vec<(String, Vec<u8>)> {
    let world = dns::World::load();
    assert!(
        world.resolvers.len() <= 256,
        "a selector byte reaches 256 resolvers; the seeds would not cover them all"
    );
    let mut seeds = Vec::new();
    let mut add = |selector: usize, what: &str, q: Vec<u8>| {
        let mut bytes = vec![u8::try_from(selector).expect("at most 256 resolvers")];
        bytes.extend(q);
        seeds.push((format!("r{selector:03}-{what}"), bytes));
    };
    for (selector, resolver) in world.resolvers.iter().enumerate() {
        let id = u16::try_from(selector).unwrap_or(0) << 8 | 0x5a;
        // Every resolver: its first name plainly, its second with EDNS.
        for (n, name) in resolver.names.iter().take(2).enumerate() {
            let name = name.replace("*.", "anything.");
            let edns = (n == 1).then_some(1232);
            add(
                selector,
                &format!("name{n}-a"),
                query(id, &name, TYPE_A, edns),
            );
        }
        if selector % 6 != 0 {
            continue;
        }
        let Some(first) = resolver.names.first() else {
            add(
                selector,
                "public-name",
                query(id, "kinesis.us-east-1.amazonaws.com", TYPE_A, None),
            );
            continue;
        };
        let first = first.replace("*.", "www.");
        for (what, rtype) in [
            ("aaaa", TYPE_AAAA),
            ("txt", TYPE_TXT),
            ("cname", TYPE_CNAME),
            ("any", TYPE_ANY),
        ] {
            add(selector, what, query(id, &first, rtype, Some(4096)));
        }
        add(
            selector,
            "upper",
            query(id, &first.to_ascii_uppercase(), TYPE_A, None),
        );
        add(
            selector,
            "below",
            query(id, &format!("x.{first}"), TYPE_A, None),
        );
        if selector % 12 == 0 {
            let zone = "us-east-1.vpce.amazonaws.com";
            add(selector, "apex-soa", query(id, zone, TYPE_SOA, None));
            add(selector, "apex-ns", query(id, zone, TYPE_NS, None));
            add(selector, "apex-any", query(id, zone, TYPE_ANY, Some(512)));
            add(selector, "axfr", query(id, zone, TYPE_AXFR, None));
            add(selector, "outside", query(id, "example.com", TYPE_A, None));
        }
    }
    // Malformed and unusual packets, all to the first resolver.
    let base = query(0xbeef, "kinesis.us-east-1.amazonaws.com", TYPE_A, None);
    let with_edns = query(
        0xbeef,
        "kinesis.us-east-1.amazonaws.com",
        TYPE_A,
        Some(1232),
    );
    let mut odd: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("short-header", base[..11].to_vec()),
        ("header-only", base[..12].to_vec()),
        ("cut-in-name", base[..20].to_vec()),
        ("cut-in-type", base[..base.len() - 3].to_vec()),
        ("long-name", query(1, &["a"; 130].join("."), TYPE_A, None)),
        (
            "label-64",
            [
                &base[..12],
                &[64u8][..],
                &[b'a'; 64][..],
                &[0, 0, 1, 0, 1][..],
            ]
            .concat(),
        ),
        (
            "pointer-in-question",
            [&base[..12], &[0xc0, 0x0c, 0, 1, 0, 1][..]].concat(),
        ),
        ("dot-in-label", query(2, "a\\.b", TYPE_A, None)),
        ("root", query(3, ".", TYPE_SOA, None)),
        ("qtype-opt", query(4, "example.com", TYPE_OPT, None)),
        ("edns-65535", query(5, "example.com", TYPE_A, Some(65535))),
        ("edns-1", query(6, "example.com", TYPE_A, Some(1))),
    ];
    let set = |bytes: &[u8], at: usize, value: &[u8]| {
        let mut b = bytes.to_vec();
        b[at..at + value.len()].copy_from_slice(value);
        b
    };
    odd.push(("response", set(&base, 2, &[0x81, 0x00])));
    odd.push(("opcode-notify", set(&base, 2, &[0x20, 0x00])));
    odd.push(("opcode-update", set(&base, 2, &[0x28, 0x00])));
    odd.push(("qdcount-0", set(&base, 4, &[0, 0])));
    odd.push(("qdcount-2", set(&base, 4, &[0, 2])));
    odd.push(("ancount-1", set(&base, 6, &[0, 1])));
    odd.push(("arcount-1-missing", set(&base, 10, &[0, 1])));
    odd.push(("class-chaos", set(&base, base.len() - 2, &[0, 3])));
    odd.push(("class-any", set(&base, base.len() - 2, &[0, 255])));
    odd.push(("class-none", set(&base, base.len() - 2, &[0, 254])));
    odd.push(("rd-cd-flags", set(&base, 2, &[0x01, 0x10])));
    let opt_version_at = with_edns.len() - 6;
    odd.push(("edns-version-1", set(&with_edns, opt_version_at, &[0, 1])));
    let mut two_opts = set(&with_edns, 10, &[0, 2]);
    two_opts.extend_from_slice(&with_edns[with_edns.len() - 11..]);
    odd.push(("two-opts", two_opts));
    let mut opt_not_root = set(&with_edns, 10, &[0, 1]);
    let opt_at = opt_not_root.len() - 11;
    opt_not_root.splice(opt_at..=opt_at, [1u8, b'x', 0]);
    odd.push(("opt-not-root", opt_not_root));
    let mut opt_with_option = set(&with_edns, with_edns.len() - 2, &[0, 8]);
    opt_with_option.extend_from_slice(&[0, 10, 0, 4, 1, 2, 3, 4]);
    odd.push(("opt-cookie", opt_with_option));
    let mut tsig_like = set(&with_edns, 10, &[0, 2]);
    tsig_like.extend_from_slice(&[0xc0, 0x0c, 0, 250, 0, 255, 0, 0, 0, 0, 0, 2, 0xaa, 0xbb]);
    odd.push(("extra-additional", tsig_like));
    for (what, bytes) in odd {
        add(0, what, bytes);
    }
    seeds
}

fn api_seeds() -> Vec<(String, Vec<u8>)> {
    let world = api::World::load();
    let consumer_key = "@AKIAIOSFODNN7EXAMPLE ";
    let provider_key = "@AKIAI44QH8DHBEXAMPLE ";
    let v = "Version=2016-11-15";
    let create = format!(
        "Action=CreateVpcEndpoint {v}&VpcId=vpc-ec43eb89&VpcEndpointType=Interface\
&ServiceName=com.amazonaws.us-east-1.kinesis-streams&SubnetId.1=subnet-abababab\
&SubnetId.2=subnet-aabb1122&SecurityGroupId.1=sg-1a2b3c4d&PrivateDnsEnabled=true\
&TagSpecification.1.ResourceType=vpc-endpoint&TagSpecification.1.Tag.1.Key=Name\
&TagSpecification.1.Tag.1.Value=kinesis%20endpoint"
    );
    // The ID the world gives the first endpoint created in a session.
    let created = api::run(&world, create.as_bytes());
    let body = &created.first().expect("one answer").1.body;
    let doc = vpcesim_fuzz::xml::parse(body).expect("CreateVpcEndpoint answers XML");
    let id = doc
        .child("vpcEndpoint")
        .and_then(|e| e.child("vpcEndpointId"))
        .map(|e| e.text.clone())
        .unwrap_or_else(|| panic!("no endpoint ID in {}", String::from_utf8_lossy(body)));
    let payments = &world.control().topology().services["payments"];
    let (provider_service, service_id) = (&payments.service_name, &payments.id);
    let sessions: Vec<(&str, String)> = vec![
        (
            "describe-services",
            format!("Action=DescribeVpcEndpointServices {v}"),
        ),
        (
            "describe-services-filtered",
            format!(
                "Action=DescribeVpcEndpointServices&{v}&ServiceName.1=com.amazonaws.us-east-1.s3\
&Filter.1.Name=service-type&Filter.1.Value.1=Interface&MaxResults=5"
            ),
        ),
        (
            "describe-vpcs",
            format!("{consumer_key}Action=DescribeVpcs&{v}"),
        ),
        (
            "describe-vpc-attribute",
            format!(
                "Action=DescribeVpcAttribute {v}&VpcId=vpc-ec43eb89&Attribute=enableDnsHostnames"
            ),
        ),
        (
            "modify-vpc-attribute",
            format!(
                "Action=ModifyVpcAttribute {v}&VpcId=vpc-ec43eb89&EnableDnsSupport.Value=false\n\
Action=DescribeVpcAttribute {v}&VpcId=vpc-ec43eb89&Attribute=enableDnsSupport"
            ),
        ),
        (
            "describe-subnets",
            format!(
                "Action=DescribeSubnets {v}&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-ec43eb89&Filter.2.Name=availability-zone&Filter.2.Value.1=us-east-1*"
            ),
        ),
        (
            "describe-security-groups",
            format!("Action=DescribeSecurityGroups {v}&GroupId.1=sg-1a2b3c4d&GroupName.1=default"),
        ),
        (
            "endpoint-lifecycle",
            format!(
                "{consumer_key}{create}\n\
Action=DescribeVpcEndpoints {v}&VpcEndpointId.1={id}\n\
Action=DescribeVpcEndpoints {v}&Filter.1.Name=tag:Name&Filter.1.Value.1=kinesis*&MaxResults=5\n\
Action=DescribeNetworkInterfaces {v}&Filter.1.Name=requester-managed&Filter.1.Value.1=true\n\
Action=ModifyVpcEndpoint {v}&VpcEndpointId={id}&RemoveSubnetId.1=subnet-aabb1122&AddSubnetId.1=subnet-cdcdcdcd&PrivateDnsEnabled=false&ResetPolicy=true\n\
Action=CreateTags {v}&ResourceId.1={id}&Tag.1.Key=team&Tag.1.Value=blue\n\
Action=DeleteVpcEndpoints {v}&VpcEndpointId.1={id}&VpcEndpointId.2=vpce-00000000000000000\n\
Action=DescribeVpcEndpoints {v}&Filter.1.Name=vpc-endpoint-state&Filter.1.Value.1=deleted"
            ),
        ),
        ("create-dry-run", format!("{create}&DryRun=true")),
        (
            "pagination",
            format!(
                "{create}\n{create}\nAction=DescribeVpcEndpoints {v}&MaxResults=5\n\
Action=DescribeVpcEndpoints {v}&MaxResults=5&NextToken=vpcesim-page-1"
            ),
        ),
        (
            "provider-flow",
            format!(
                "{provider_key}Action=DescribeVpcEndpointServiceConfigurations {v}\n\
{consumer_key}Action=CreateVpcEndpoint {v}&VpcId=vpc-ec43eb89&ServiceName={provider_service}&SubnetId.1=subnet-abababab&VpcEndpointType=Interface\n\
{provider_key}Action=DescribeVpcEndpointConnections {v}&Filter.1.Name=vpc-endpoint-state&Filter.1.Value.1=pendingAcceptance\n\
{provider_key}Action=AcceptVpcEndpointConnections {v}&ServiceId={service_id}&VpcEndpointId.1={id}\n\
{provider_key}Action=RejectVpcEndpointConnections {v}&ServiceId={service_id}&VpcEndpointId.1={id}"
            ),
        ),
        (
            "service-configuration",
            format!(
                "{provider_key}Action=CreateVpcEndpointServiceConfiguration {v}&AcceptanceRequired=false\
&NetworkLoadBalancerArn.1=arn:aws:elasticloadbalancing:us-east-1:210987654321:loadbalancer/net/nlb/abc&PrivateDnsName=api.example.com\n\
{provider_key}Action=DescribeVpcEndpointServiceConfigurations {v}&Filter.1.Name=service-state&Filter.1.Value.1=Available\n\
{provider_key}Action=ModifyVpcEndpointServiceConfiguration {v}&ServiceId=vpce-svc-00000000000000001&AcceptanceRequired=true&RemovePrivateDnsName=true\n\
{provider_key}Action=DeleteVpcEndpointServiceConfigurations {v}&ServiceId.1=vpce-svc-00000000000000001"
            ),
        ),
        (
            "notifications",
            format!(
                "Action=CreateVpcEndpointConnectionNotification {v}&VpcEndpointId={id}\
&ConnectionNotificationArn=arn:aws:sns:us-east-1:123456789012:topic&ConnectionEvents.1=Accept&ConnectionEvents.2=Reject\n\
Action=DescribeVpcEndpointConnectionNotifications {v}\n\
Action=ModifyVpcEndpointConnectionNotification {v}&ConnectionNotificationId=vpce-nfn-00000000000000001&ConnectionEvents.1=Connect\n\
Action=DeleteVpcEndpointConnectionNotifications {v}&ConnectionNotificationId.1=vpce-nfn-00000000000000001"
            ),
        ),
        (
            "tags",
            format!(
                "Action=CreateTags {v}&ResourceId.1=vpc-ec43eb89&Tag.1.Key=env&Tag.1.Value=test&Tag.2.Key=empty\n\
Action=DescribeVpcs {v}&Filter.1.Name=tag-key&Filter.1.Value.1=env\n\
Action=DeleteTags {v}&ResourceId.1=vpc-ec43eb89&Tag.1.Key=env\n\
Action=DescribeVpcs {v}&Filter.1.Name=tag:env&Filter.1.Value.1=*"
            ),
        ),
        ("no-action", v.to_string()),
        ("unknown-action", format!("Action=RunInstances&{v}")),
        (
            "bad-version",
            "Action=DescribeVpcs&Version=2099-01-01".to_string(),
        ),
        (
            "unknown-key",
            format!("@AKIANOBODY Action=DescribeVpcs&{v}"),
        ),
        ("bad-bool", format!("Action=DescribeVpcs&{v}&DryRun=maybe")),
        (
            "bad-max-results",
            format!("Action=DescribeVpcEndpoints&{v}&MaxResults=-1"),
        ),
        (
            "filter-without-name",
            format!("Action=DescribeVpcEndpoints&{v}&Filter.1.Value.1=x&Filter.99999999999.Name=y"),
        ),
        (
            "control-characters",
            format!("{create}%01%00%EF%BF%BE\nAction=DescribeVpcEndpoints {v}"),
        ),
        (
            "bad-escapes",
            format!("Action=Describe%ZZVpcs&{v}&%&&=&Tag.1.Key=%E2%82"),
        ),
        (
            "query-and-body",
            format!(
                "Action=DescribeVpcs&{v}&X-Amz-Credential=AKIAI44QH8DHBEXAMPLE/20260101/us-east-1/ec2/aws4_request Action=DescribeSubnets"
            ),
        ),
    ];
    sessions
        .into_iter()
        .map(|(name, text)| (name.to_string(), text.into_bytes()))
        .collect()
}

fn scenario_seeds() -> Vec<(String, Vec<u8>)> {
    let minimal = "name = \"seed\"\nregion = \"us-east-1\"\n\n[vpcs.main]\ncidr = \"10.0.0.0/16\"\ndns_hostnames = true\n\n[subnets.a]\nvpc = \"main\"\ncidr = \"10.0.1.0/24\"\naz = \"us-east-1a\"\n\n[instances.web]\nsubnet = \"a\"\n\n[endpoints.kinesis]\nvpc = \"main\"\nservice = \"com.amazonaws.us-east-1.kinesis-streams\"\nsubnets = [\"a\"]\n\n[[steps]]\nresolve = \"kinesis.us-east-1.amazonaws.com\"\nfrom = \"web\"\nexpect = { rcode = \"NOERROR\", answers = \"endpoint:kinesis\" }\n";
    let seeds: Vec<(&str, String)> = vec![
        ("minimal", minimal.to_string()),
        ("empty", String::new()),
        ("not-toml", "name = \n[[[".to_string()),
        ("no-name", minimal.replacen("name = \"seed\"", "", 1)),
        ("bad-cidr", minimal.replace("10.0.0.0/16", "10.0.0.0/33")),
        (
            "multicast-cidr",
            minimal.replace("10.0.0.0/16", "224.0.0.0/16"),
        ),
        (
            "subnet-outside",
            minimal.replace("10.0.1.0/24", "10.1.1.0/24"),
        ),
        (
            "unknown-vpc",
            minimal.replace("vpc = \"main\"\ncidr", "vpc = \"nope\"\ncidr"),
        ),
        (
            "unknown-key",
            minimal.replace("dns_hostnames", "dns_hostname"),
        ),
        (
            "bad-region",
            minimal.replace("us-east-1\"\n\n", "mars-1\"\n\n"),
        ),
        (
            "unknown-service",
            minimal.replace("kinesis-streams\"", "no-such-service\""),
        ),
        (
            "huge-wait",
            format!(
                "{minimal}\n[[steps]]\nwait = \"18446744073709551615s\"\n[[steps]]\nwait = \"18446744073709551615s\"\n"
            ),
        ),
        (
            "huge-provisioning",
            format!("provisioning = \"18446744073709551615s\"\n{minimal}"),
        ),
        (
            "huge-transfer",
            format!(
                "{minimal}\n[[steps]]\ntransfer = \"{{kinesis}}:443\"\nfrom = \"web\"\nbytes = \"1000000TB\"\nexpect = \"ok\"\n"
            ),
        ),
        (
            "placeholder",
            format!(
                "{minimal}\n[[steps]]\nresolve = \"{{nope}}\"\nfrom = \"web\"\nexpect = {{ rcode = \"NXDOMAIN\" }}\n"
            ),
        ),
        (
            "two-actions",
            format!("{minimal}\n[[steps]]\nresolve = \"a\"\nconnect = \"b:1\"\nfrom = \"web\"\n"),
        ),
        (
            "unicode",
            format!("{minimal}# é中\u{1F600}\n[vpcs.\"é\"]\ncidr = \"10.9.0.0/16\"\n"),
        ),
        ("crlf", minimal.replace('\n', "\r\n")),
    ];
    seeds
        .into_iter()
        .map(|(name, text)| (format!("{name}.toml"), text.into_bytes()))
        .collect()
}
