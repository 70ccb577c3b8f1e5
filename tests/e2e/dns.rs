//! Private DNS over real sockets: every row of docs/behaviour.md §1-§4, asked with
//! hickory's client (UDP and TCP) and with `dig`, plus case, EDNS, truncation, malformed
//! packets, live changes, and the `serve` and `zone` commands.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use vpcesim::control::{ControlPlane, CreateEndpoint, ModifyEndpoint, ServiceInfo};
use vpcesim::dns::ViewId;

use crate::support::{TestDns, load, tcp_raw, udp_raw};

const FIXTURE: &str = "dns.toml";
const VPCE_ZONE: &str = "us-east-1.vpce.amazonaws.com";

/// What a query must get.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    /// NOERROR with these A records, in this order.
    A(Vec<Ipv4Addr>),
    /// NOERROR with these A records, in any order.
    AnyOrder(Vec<Ipv4Addr>),
    /// NOERROR: a CNAME to the target, then its A records (none for other types).
    Cname(String, Vec<Ipv4Addr>),
    /// NOERROR, no answer, the zone's SOA in authority.
    NoData,
    /// NOERROR with the zone's SOA as the answer.
    Soa,
    /// NXDOMAIN with the SOA.
    NxDomain,
    /// REFUSED, nothing else.
    Refused,
}

struct Case {
    view: ViewId,
    name: String,
    rtype: RecordType,
    want: Want,
}

fn vpc(name: &str) -> ViewId {
    ViewId::Vpc(name.into())
}

/// The ENI addresses of an endpoint, in its subnet order.
fn enis(control: &ControlPlane, endpoint: &str) -> Vec<Ipv4Addr> {
    let t = control.topology();
    t.endpoints[endpoint]
        .enis
        .iter()
        .map(|e| t.enis[e].ip)
        .collect()
}

fn eni_in(control: &ControlPlane, endpoint: &str, subnet: &str) -> Ipv4Addr {
    let t = control.topology();
    t.endpoints[endpoint]
        .enis
        .iter()
        .map(|e| &t.enis[e])
        .find(|e| e.subnet == subnet)
        .map(|e| e.ip)
        .unwrap()
}

fn public(control: &ControlPlane, service: &str) -> Vec<Ipv4Addr> {
    ServiceInfo::find(
        control.topology(),
        &format!("com.amazonaws.us-east-1.{service}"),
    )
    .unwrap()
    .public_addresses
}

fn regional(control: &ControlPlane, endpoint: &str) -> String {
    let t = control.topology();
    let e = &t.endpoints[endpoint];
    let info = ServiceInfo::of(t, &e.service).unwrap();
    vpcesim::control::names::regional_name(t, e, &info)
}

fn zonal(control: &ControlPlane, endpoint: &str, az: &str) -> String {
    let t = control.topology();
    let e = &t.endpoints[endpoint];
    let info = ServiceInfo::of(t, &e.service).unwrap();
    vpcesim::control::names::zonal_name(t, e, &info, az)
}

/// Every row of docs/behaviour.md's DNS rules, against the fixture.
fn cases(c: &ControlPlane) -> Vec<Case> {
    use RecordType::{A, AAAA, SOA};
    let case = |view: ViewId, name: &str, rtype, want| Case {
        view,
        name: name.to_string(),
        rtype,
        want,
    };
    let kinesis = regional(c, "kinesis");
    let payments = regional(c, "payments");
    let s3 = regional(c, "s3");
    let big: String = ["a"; 40].join(".");
    vec![
        // §1: vpce names resolve from every view, in subnet order (b before a).
        case(ViewId::Public, &kinesis, A, Want::A(enis(c, "kinesis"))),
        case(vpc("main"), &kinesis, A, Want::A(enis(c, "kinesis"))),
        case(vpc("peer"), &kinesis, A, Want::A(enis(c, "kinesis"))),
        case(
            ViewId::Public,
            &zonal(c, "kinesis", "us-east-1a"),
            A,
            Want::A(vec![eni_in(c, "kinesis", "main-a")]),
        ),
        case(
            vpc("peer"),
            &zonal(c, "kinesis", "us-east-1b"),
            A,
            Want::A(vec![eni_in(c, "kinesis", "main-b")]),
        ),
        // No zonal name where the endpoint has no ENI.
        case(
            ViewId::Public,
            &zonal(c, "kinesis", "us-east-1c"),
            A,
            Want::NxDomain,
        ),
        // §2: AAAA on an existing name is NODATA; unknown names NXDOMAIN; ENTs NODATA.
        case(ViewId::Public, &kinesis, AAAA, Want::NoData),
        case(
            ViewId::Public,
            &format!("vpce-00000000000000000-zzzzzzzz.ec2.{VPCE_ZONE}"),
            A,
            Want::NxDomain,
        ),
        case(
            ViewId::Public,
            &format!("kinesis-streams.{VPCE_ZONE}"),
            A,
            Want::NoData,
        ),
        case(ViewId::Public, &format!("sub.{kinesis}"), A, Want::NxDomain),
        case(ViewId::Public, VPCE_ZONE, SOA, Want::Soa),
        case(ViewId::Public, VPCE_ZONE, A, Want::NoData),
        // §1: S3 names below the endpoint's names answer as they do.
        case(
            ViewId::Public,
            &format!("my-bucket.{s3}"),
            A,
            Want::A(enis(c, "s3")),
        ),
        case(
            ViewId::Public,
            &format!("a.b.{}", zonal(c, "s3", "us-east-1a")),
            A,
            Want::A(enis(c, "s3")),
        ),
        // §4: names resolve in pendingAcceptance, and for endpoints of a VPC without DNS.
        case(
            ViewId::Public,
            &regional(c, "gated"),
            A,
            Want::A(enis(c, "gated")),
        ),
        case(
            ViewId::Public,
            &regional(c, "logs"),
            A,
            Want::A(enis(c, "logs")),
        ),
        // §3: default names are public outside the endpoint's VPC...
        case(
            ViewId::Public,
            "kinesis.us-east-1.amazonaws.com",
            A,
            Want::AnyOrder(public(c, "kinesis-streams")),
        ),
        case(
            vpc("peer"),
            "kinesis.us-east-1.amazonaws.com",
            A,
            Want::AnyOrder(public(c, "kinesis-streams")),
        ),
        case(
            vpc("main"),
            "sts.us-east-1.amazonaws.com",
            A,
            Want::AnyOrder(public(c, "sts")),
        ),
        case(
            ViewId::Public,
            "anything.execute-api.us-east-1.amazonaws.com",
            A,
            Want::AnyOrder(public(c, "execute-api")),
        ),
        case(
            ViewId::Public,
            "bucket.s3.us-east-1.amazonaws.com",
            A,
            Want::AnyOrder(public(c, "s3")),
        ),
        // ...and with private DNS off inside it.
        case(
            vpc("main"),
            "ec2.us-east-1.amazonaws.com",
            A,
            Want::AnyOrder(public(c, "ec2")),
        ),
        // ...private inside it: the regional set, wildcards included.
        case(
            vpc("main"),
            "kinesis.us-east-1.amazonaws.com",
            A,
            Want::A(enis(c, "kinesis")),
        ),
        case(
            vpc("main"),
            "kinesis.us-east-1.amazonaws.com",
            AAAA,
            Want::NoData,
        ),
        case(
            vpc("main"),
            "my-bucket.s3.us-east-1.amazonaws.com",
            A,
            Want::A(enis(c, "s3")),
        ),
        // S3's bare regional name is a private name too: the endpoint's ENIs inside,
        // the public addresses everywhere else.
        case(
            vpc("main"),
            "s3.us-east-1.amazonaws.com",
            A,
            Want::A(enis(c, "s3")),
        ),
        case(
            ViewId::Public,
            "s3.us-east-1.amazonaws.com",
            A,
            Want::AnyOrder(public(c, "s3")),
        ),
        case(
            vpc("peer"),
            "s3.us-east-1.amazonaws.com",
            A,
            Want::AnyOrder(public(c, "s3")),
        ),
        // Firehose's private name is the Firehose API's own host.
        case(
            ViewId::Public,
            "firehose.us-east-1.amazonaws.com",
            A,
            Want::AnyOrder(public(c, "kinesis-firehose")),
        ),
        case(
            ViewId::Public,
            "kinesis-firehose.us-east-1.amazonaws.com",
            A,
            Want::Refused,
        ),
        case(
            vpc("peer"),
            "sts.us-east-1.amazonaws.com",
            A,
            Want::A(enis(c, "sts")),
        ),
        case(
            vpc("peer"),
            "abc123.execute-api.us-east-1.amazonaws.com",
            A,
            Want::A(enis(c, "api")),
        ),
        case(
            vpc("peer"),
            &format!("{big}.execute-api.us-east-1.amazonaws.com"),
            A,
            Want::A(enis(c, "api")),
        ),
        // A provider's custom name: CNAME to the regional name, in its VPC only.
        case(
            vpc("main"),
            "api.payments.example.com",
            A,
            Want::Cname(payments.clone(), enis(c, "payments")),
        ),
        case(
            vpc("main"),
            "api.payments.example.com",
            AAAA,
            Want::Cname(payments, Vec::new()),
        ),
        case(vpc("main"), "x.api.payments.example.com", A, Want::NxDomain),
        case(vpc("peer"), "api.payments.example.com", A, Want::Refused),
        case(ViewId::Public, "api.payments.example.com", A, Want::Refused),
        // Outside every served zone.
        case(ViewId::Public, "www.example.com", A, Want::Refused),
        case(
            ViewId::Public,
            "nosuch.us-east-1.amazonaws.com",
            A,
            Want::Refused,
        ),
        case(vpc("main"), "amazonaws.com", A, Want::Refused),
        // §3: a VPC without dns_support has no resolver.
        case(vpc("nodns"), &kinesis, A, Want::Refused),
        case(
            vpc("nodns"),
            "kinesis.us-east-1.amazonaws.com",
            A,
            Want::Refused,
        ),
        case(vpc("nodns"), &regional(c, "logs"), A, Want::Refused),
    ]
}

fn views() -> Vec<ViewId> {
    vec![ViewId::Public, vpc("main"), vpc("peer"), vpc("nodns")]
}

/// Checks one response against what the case wants.
fn check(case: &Case, transport: &str, msg: &Message) {
    let ctx = format!("{transport} {} {} {:?}", case.view, case.name, case.rtype);
    let addrs: Vec<Ipv4Addr> = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    let cnames: Vec<String> = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::CNAME(t) => Some(t.0.to_ascii().trim_end_matches('.').to_string()),
            _ => None,
        })
        .collect();
    let soa_in_authority = msg
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);
    for record in msg.answers.iter().chain(&msg.authorities) {
        assert_eq!(record.ttl, 60, "{ctx}: TTL of {record}");
    }
    let code = msg.metadata.response_code;
    match &case.want {
        Want::A(want) => {
            assert_eq!((code, &addrs), (ResponseCode::NoError, want), "{ctx}");
            assert!(msg.metadata.authoritative, "{ctx}: AA");
        }
        Want::AnyOrder(want) => {
            let (mut got, mut want) = (addrs.clone(), want.clone());
            got.sort();
            want.sort();
            assert_eq!((code, got), (ResponseCode::NoError, want), "{ctx}");
        }
        Want::Cname(target, want) => {
            assert_eq!(code, ResponseCode::NoError, "{ctx}");
            assert_eq!(cnames, vec![target.clone()], "{ctx}");
            assert_eq!(&addrs, want, "{ctx}");
            assert_eq!(
                soa_in_authority,
                want.is_empty(),
                "{ctx}: SOA after a CNAME to NODATA"
            );
        }
        Want::NoData => {
            assert_eq!(
                (code, msg.answers.len()),
                (ResponseCode::NoError, 0),
                "{ctx}"
            );
            assert!(soa_in_authority, "{ctx}: SOA in authority");
        }
        Want::Soa => {
            assert_eq!(code, ResponseCode::NoError, "{ctx}");
            assert_eq!(msg.answers.len(), 1, "{ctx}");
            assert_eq!(msg.answers[0].record_type(), RecordType::SOA, "{ctx}");
        }
        Want::NxDomain => {
            assert_eq!(
                (code, msg.answers.len()),
                (ResponseCode::NXDomain, 0),
                "{ctx}"
            );
            assert!(soa_in_authority, "{ctx}: SOA in authority");
        }
        Want::Refused => {
            assert_eq!(
                (code, msg.answers.len(), msg.authorities.len()),
                (ResponseCode::Refused, 0, 0),
                "{ctx}"
            );
        }
    }
}

async fn udp_client(addr: SocketAddr) -> Client<TokioRuntimeProvider> {
    let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::default()).build();
    let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
    tokio::spawn(bg);
    client
}

async fn tcp_client(addr: SocketAddr) -> Client<TokioRuntimeProvider> {
    let (stream, sender) = TcpClientStream::new(
        addr,
        None,
        Some(Duration::from_secs(5)),
        TokioRuntimeProvider::default(),
    );
    let (client, bg) =
        Client::<TokioRuntimeProvider>::new(stream.await.expect("TCP connects"), sender);
    tokio::spawn(bg);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_part_a_row_over_udp_and_tcp_with_hickory_client() {
    let control = load(FIXTURE);
    let dns = TestDns::start(&control, &views(), None).await;
    let cases = cases(&control);
    for (transport, tcp) in [("udp", false), ("tcp", true)] {
        for case in &cases {
            let addr = dns.addr(&case.view);
            let mut client = if tcp {
                tcp_client(addr).await
            } else {
                udp_client(addr).await
            };
            let name = Name::from_str(&format!("{}.", case.name)).unwrap();
            let response = client
                .query(name, DNSClass::IN, case.rtype)
                .await
                .unwrap_or_else(|e| panic!("{transport} {}: {e}", case.name));
            check(case, transport, &response);
        }
    }
    dns.server.shutdown().await;
}

/// Runs dig and parses its answer into a Message (dig prints, we re-ask for the bytes).
fn dig(addr: SocketAddr, name: &str, rtype: RecordType, extra: &[&str]) -> String {
    let output = std::process::Command::new(crate::support::dig_program())
        .args([
            "+time=2",
            "+tries=1",
            "-p",
            &addr.port().to_string(),
            &format!("@{}", addr.ip()),
            name,
            &rtype.to_string(),
        ])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run dig: {e}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The rcode and the answer section's (type, data) pairs of dig's output.
fn parse_dig(text: &str) -> (String, Vec<(String, String)>, bool) {
    let status = text
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(',').next().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no status in dig output:\n{text}"));
    let mut section = "";
    let mut answers = Vec::new();
    let mut soa = false;
    for line in text.lines() {
        if line.starts_with(";; ") && line.ends_with("SECTION:") {
            section = if line.contains("ANSWER") {
                "answer"
            } else if line.contains("AUTHORITY") {
                "authority"
            } else {
                "other"
            };
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with(';') || fields.len() < 5 {
            continue;
        }
        match section {
            "answer" => answers.push((
                fields[3].to_string(),
                fields[4].trim_end_matches('.').to_string(),
            )),
            "authority" if fields[3] == "SOA" => soa = true,
            _ => {}
        }
    }
    (status, answers, soa)
}

#[ignore = "needs dig: run .ci/run or cargo test -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_part_a_row_with_dig_over_udp_and_tcp() {
    let control = load(FIXTURE);
    let dns = TestDns::start(&control, &views(), None).await;
    let cases = cases(&control);
    let addrs: Vec<SocketAddr> = cases.iter().map(|c| dns.addr(&c.view)).collect();
    let jobs: Vec<(SocketAddr, String, RecordType, Want)> = cases
        .iter()
        .zip(addrs)
        .map(|(c, a)| (a, c.name.clone(), c.rtype, c.want.clone()))
        .collect();
    tokio::task::spawn_blocking(move || {
        for (addr, name, rtype, want) in jobs {
            for mode in ["+notcp", "+tcp"] {
                let text = dig(addr, &name, rtype, &[mode]);
                let (status, answers, soa) = parse_dig(&text);
                let ctx = format!("dig {mode} {name} {rtype}:\n{text}");
                let a: Vec<Ipv4Addr> = answers
                    .iter()
                    .filter(|(t, _)| t == "A")
                    .map(|(_, d)| d.parse().unwrap())
                    .collect();
                let cname: Vec<&String> = answers
                    .iter()
                    .filter(|(t, _)| t == "CNAME")
                    .map(|(_, d)| d)
                    .collect();
                match &want {
                    Want::A(w) => assert_eq!((status.as_str(), &a), ("NOERROR", w), "{ctx}"),
                    Want::AnyOrder(w) => {
                        let (mut a, mut w) = (a.clone(), w.clone());
                        a.sort();
                        w.sort();
                        assert_eq!((status.as_str(), a), ("NOERROR", w), "{ctx}");
                    }
                    Want::Cname(t, w) => {
                        assert_eq!(
                            (status.as_str(), cname, &a),
                            ("NOERROR", vec![t], w),
                            "{ctx}"
                        );
                    }
                    Want::NoData => assert_eq!(
                        (status.as_str(), answers.len(), soa),
                        ("NOERROR", 0, true),
                        "{ctx}"
                    ),
                    Want::Soa => assert_eq!(
                        (status.as_str(), answers[0].0.as_str()),
                        ("NOERROR", "SOA"),
                        "{ctx}"
                    ),
                    Want::NxDomain => assert_eq!(
                        (status.as_str(), answers.len(), soa),
                        ("NXDOMAIN", 0, true),
                        "{ctx}"
                    ),
                    Want::Refused => {
                        assert_eq!((status.as_str(), answers.len()), ("REFUSED", 0), "{ctx}")
                    }
                }
            }
        }
    })
    .await
    .unwrap();
    dns.server.shutdown().await;
}

/// A query in wire form: `id`, flags RD, one question, optional OPT with `edns` size.
fn query(id: u16, name: &str, rtype: u16, edns: Option<(u16, u8)>) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if let Some((size, version)) = edns {
        q.push(0);
        q.extend_from_slice(&[0, 41]);
        q.extend_from_slice(&size.to_be_bytes());
        q.extend_from_slice(&[0, version, 0x80, 0, 0, 0]);
    }
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_is_insensitive_and_echoed() {
    let control = load(FIXTURE);
    let dns = TestDns::start(&control, &[vpc("main")], None).await;
    let addr = dns.addr(&vpc("main"));
    let mixed = "KiNeSiS.US-EAST-1.AmazonAWS.com";
    let reply = udp_raw(addr, &query(7, mixed, 1, None), Duration::from_secs(2))
        .await
        .expect("an answer");
    let msg = Message::from_vec(&reply).unwrap();
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        msg.queries[0].name().to_ascii(),
        format!("{mixed}."),
        "question echoed as asked"
    );
    assert_eq!(
        msg.answers[0].name.to_ascii(),
        format!("{mixed}."),
        "owner echoes the question's case"
    );
    assert_eq!(msg.answers.len(), enis(&control, "kinesis").len());
    dns.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_is_answered_with_opt_and_unknown_versions_get_badvers() {
    let control = load(FIXTURE);
    let dns = TestDns::start(&control, &[ViewId::Public], None).await;
    let addr = dns.addr(&ViewId::Public);
    let name = regional(&control, "kinesis");
    let reply = udp_raw(
        addr,
        &query(9, &name, 1, Some((4096, 0))),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let msg = Message::from_vec(&reply).unwrap();
    let edns = msg
        .edns
        .as_ref()
        .expect("OPT in the answer to an EDNS query");
    assert_eq!(edns.max_payload(), vpcesim::dns::EDNS_PAYLOAD);
    assert_eq!(msg.answers.len(), 2);
    let plain = udp_raw(addr, &query(10, &name, 1, None), Duration::from_secs(2))
        .await
        .unwrap();
    assert!(
        Message::from_vec(&plain).unwrap().edns.is_none(),
        "no OPT without EDNS"
    );
    let reply = udp_raw(
        addr,
        &query(11, &name, 1, Some((1232, 1))),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let msg = Message::from_vec(&reply).unwrap();
    // 16 is BADVERS (RFC 6891) and BADSIG (RFC 8945): hickory names it either way.
    assert_eq!(u16::from(msg.metadata.response_code), 16, "BADVERS");
    assert!(msg.answers.is_empty());
    dns.server.shutdown().await;
}

#[ignore = "needs dig: run .ci/run or cargo test -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_do_not_fit_are_truncated_and_complete_over_tcp() {
    let control = load(FIXTURE);
    let dns = TestDns::start(&control, &[vpc("peer")], None).await;
    let addr = dns.addr(&vpc("peer"));
    // 16 A records (256 bytes) behind a 250-byte question: over 512 without EDNS.
    let long = format!(
        "{}.{}.{}.{}.execute-api.us-east-1.amazonaws.com",
        "x".repeat(63),
        "y".repeat(63),
        "z".repeat(63),
        "w".repeat(20)
    );
    let plain = udp_raw(addr, &query(1, &long, 1, None), Duration::from_secs(2))
        .await
        .unwrap();
    assert!(plain.len() <= 512);
    let msg = Message::from_vec(&plain).unwrap();
    assert!(msg.metadata.truncation, "TC set");
    assert!(msg.answers.is_empty());
    let with_edns = udp_raw(
        addr,
        &query(2, &long, 1, Some((1232, 0))),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let msg = Message::from_vec(&with_edns).unwrap();
    assert!(
        !msg.metadata.truncation && msg.answers.len() == 16,
        "fits in the EDNS size"
    );
    let over_tcp = tcp_raw(addr, &query(3, &long, 1, None)).await;
    let msg = Message::from_vec(&over_tcp).unwrap();
    assert!(!msg.metadata.truncation);
    assert_eq!(msg.answers.len(), 16);
    // dig retries over TCP on its own.
    let text = tokio::task::spawn_blocking(move || dig(addr, &long, RecordType::A, &["+noedns"]))
        .await
        .unwrap();
    assert!(
        text.contains("Truncated, retrying in TCP mode") || text.contains("(TCP)"),
        "{text}"
    );
    assert_eq!(parse_dig(&text).1.len(), 16, "{text}");
    dns.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_garbage_packets_never_stop_the_server() {
    let control = load(FIXTURE);
    let dns = TestDns::start(&control, &[ViewId::Public], None).await;
    let addr = dns.addr(&ViewId::Public);
    let good = query(42, &regional(&control, "kinesis"), 1, None);
    let short = Duration::from_millis(300);
    // Shorter than a header: no answer.
    assert!(udp_raw(addr, &[1, 2, 3], short).await.is_none());
    // A response (QR set): no answer.
    let mut response = good.clone();
    response[2] |= 0x80;
    assert!(udp_raw(addr, &response, short).await.is_none());
    let formerr = |reply: Option<Vec<u8>>, what: &str| {
        let reply = reply.unwrap_or_else(|| panic!("{what}: no answer"));
        assert_eq!(&reply[..2], &good[..2], "{what}: ID echoed");
        assert_eq!(reply[3] & 0x0f, 1, "{what}: FORMERR");
    };
    // The name runs off the end.
    formerr(
        udp_raw(addr, &good[..good.len() - 8], short).await,
        "cut name",
    );
    // No question.
    let mut none = good[..12].to_vec();
    none[5] = 0;
    formerr(udp_raw(addr, &none, short).await, "qdcount 0");
    // Two questions.
    let mut two = good.clone();
    two[5] = 2;
    formerr(udp_raw(addr, &two, short).await, "qdcount 2");
    // A compression pointer in the question.
    let mut pointer = good[..12].to_vec();
    pointer.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    formerr(udp_raw(addr, &pointer, short).await, "pointer");
    // Two OPT records.
    let mut two_opt = query(42, "a.b", 1, Some((512, 0)));
    let opt = two_opt[two_opt.len() - 11..].to_vec();
    two_opt.extend_from_slice(&opt);
    two_opt[11] = 2;
    formerr(udp_raw(addr, &two_opt, short).await, "two OPT");
    // Another opcode: NOTIMP.
    let mut notify = good.clone();
    notify[2] = 0x20;
    let reply = udp_raw(addr, &notify, short)
        .await
        .expect("an answer to NOTIFY");
    assert_eq!(reply[3] & 0x0f, 4, "NOTIMP");
    // Random garbage, seeded: whatever it gets, the server keeps answering.
    let mut seed = 0x1234_5678_u64;
    for len in 0..300usize {
        let mut junk = Vec::with_capacity(len);
        for _ in 0..len {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            junk.push((seed >> 33) as u8);
        }
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(&junk, addr).unwrap();
    }
    // Garbage over TCP too.
    {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = stream
            .write_all(&[0, 5, 1, 2, 3, 4, 5, 0xff, 0xff, 9])
            .await;
    }
    let reply = udp_raw(addr, &good, Duration::from_secs(2))
        .await
        .expect("still answering over UDP");
    assert_eq!(Message::from_vec(&reply).unwrap().answers.len(), 2);
    let reply = tcp_raw(addr, &good).await;
    assert_eq!(
        Message::from_vec(&reply).unwrap().answers.len(),
        2,
        "still answering over TCP"
    );
    dns.server.shutdown().await;
}

async fn ask(addr: SocketAddr, name: &str) -> Message {
    let reply = udp_raw(addr, &query(5, name, 1, None), Duration::from_secs(2))
        .await
        .expect("an answer");
    Message::from_vec(&reply).unwrap()
}

fn a_of(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_changes_reach_the_answers() {
    let mut control = load(FIXTURE);
    let dns = TestDns::start(&control, &[ViewId::Public, vpc("main"), vpc("nodns")], None).await;
    let mut public_set = public(&control, "kinesis-streams");
    let (public, main, nodns) = (
        dns.addr(&ViewId::Public),
        dns.addr(&vpc("main")),
        dns.addr(&vpc("nodns")),
    );
    let default = "kinesis.us-east-1.amazonaws.com";
    public_set.sort();
    let sorted = |mut v: Vec<Ipv4Addr>| {
        v.sort();
        v
    };
    assert_eq!(a_of(&ask(main, default).await), enis(&control, "kinesis"));
    let now = Duration::from_secs(1);
    // dns_hostnames off: private names stop; back on: they answer again.
    control
        .set_vpc_attributes(now, "main", None, Some(false))
        .unwrap();
    dns.handle.refresh(&control);
    assert_eq!(sorted(a_of(&ask(main, default).await)), public_set);
    control
        .set_vpc_attributes(now, "main", None, Some(true))
        .unwrap();
    dns.handle.refresh(&control);
    assert_eq!(a_of(&ask(main, default).await), enis(&control, "kinesis"));
    // Private DNS off by modify.
    let off = ModifyEndpoint {
        private_dns: Some(false),
        ..ModifyEndpoint::default()
    };
    control
        .modify_endpoint(now, "consumer", "kinesis", &off)
        .unwrap();
    dns.handle.refresh(&control);
    assert_eq!(sorted(a_of(&ask(main, default).await)), public_set);
    // A new subnet: a new ENI, appended to the regional answer.
    let regional_name = regional(&control, "kinesis");
    let add = ModifyEndpoint {
        add_subnets: vec!["main-c".into()],
        ..ModifyEndpoint::default()
    };
    control
        .modify_endpoint(now, "consumer", "kinesis", &add)
        .unwrap();
    dns.handle.refresh(&control);
    let three = enis(&control, "kinesis");
    assert_eq!(three.len(), 3);
    assert_eq!(a_of(&ask(public, &regional_name).await), three);
    // Delete: deleting, then deleted; the names are gone (NXDOMAIN).
    control.delete_endpoint(now, "consumer", "kinesis").unwrap();
    dns.handle.refresh(&control);
    assert_eq!(
        ask(public, &regional_name).await.metadata.response_code,
        ResponseCode::NXDomain
    );
    control.advance(Duration::from_secs(60));
    dns.handle.refresh(&control);
    assert_eq!(
        ask(public, &regional_name).await.metadata.response_code,
        ResponseCode::NXDomain
    );
    // Create: pending at once with names; available next, private DNS on.
    let created = control
        .create_endpoint(
            Duration::from_secs(61),
            "consumer",
            &CreateEndpoint {
                vpc: "main".into(),
                service: "com.amazonaws.us-east-1.kinesis-streams".into(),
                subnets: vec!["main-a".into()],
                ..CreateEndpoint::default()
            },
        )
        .unwrap();
    dns.handle.refresh(&control);
    let new_name = regional(&control, &created.name);
    assert_eq!(
        a_of(&ask(public, &new_name).await),
        enis(&control, &created.name)
    );
    assert_eq!(
        sorted(a_of(&ask(main, default).await)),
        public_set,
        "not yet available"
    );
    control.advance(Duration::from_secs(62));
    dns.handle.refresh(&control);
    assert_eq!(
        a_of(&ask(main, default).await),
        enis(&control, &created.name),
        "available: private"
    );
    // A VPC's resolver comes and goes with dns_support.
    let logs = regional(&control, "logs");
    assert_eq!(
        ask(nodns, &logs).await.metadata.response_code,
        ResponseCode::Refused
    );
    control
        .set_vpc_attributes(now, "nodns", Some(true), None)
        .unwrap();
    dns.handle.refresh(&control);
    assert_eq!(a_of(&ask(nodns, &logs).await), enis(&control, "logs"));
    // Incremental and full compiles agree.
    let full = vpcesim::dns::DnsSnapshot::compile(&control);
    let incremental = dns.handle.load();
    for case in cases_after_changes(&control) {
        for view in [ViewId::Public, vpc("main"), vpc("peer"), vpc("nodns")] {
            assert_eq!(
                full.lookup(&view, &case, RecordType::A),
                incremental.lookup(&view, &case, RecordType::A),
                "{view} {case}"
            );
        }
    }
    dns.server.shutdown().await;
}

fn cases_after_changes(control: &ControlPlane) -> Vec<String> {
    let mut names: Vec<String> = control
        .topology()
        .endpoints
        .keys()
        .flat_map(|e| {
            [
                regional(control, e),
                zonal(control, e, "us-east-1a"),
                zonal(control, e, "us-east-1c"),
            ]
        })
        .collect();
    names.extend(
        [
            "kinesis.us-east-1.amazonaws.com",
            "x.s3.us-east-1.amazonaws.com",
            "api.payments.example.com",
        ]
        .map(String::from),
    );
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_zones_go_upstream_when_configured() {
    let control = load(FIXTURE);
    // The upstream: another vpcesim answering as main's resolver.
    let upstream = TestDns::start(&control, &[vpc("main")], None).await;
    let dns = TestDns::start(
        &control,
        &[vpc("peer"), ViewId::Public],
        Some(upstream.addr(&vpc("main"))),
    )
    .await;
    let addr = dns.addr(&vpc("peer"));
    // api.payments.example.com is outside peer's zones: forwarded, answered by main.
    let msg = ask(addr, "api.payments.example.com").await;
    assert_eq!(a_of(&msg), enis(&control, "payments"));
    assert_eq!(msg.metadata.id, 5, "the client's ID comes back");
    // In-zone names are still answered here.
    assert_eq!(
        a_of(&ask(addr, "kinesis.us-east-1.amazonaws.com").await).len(),
        public(&control, "kinesis-streams").len()
    );
    // Over TCP too.
    let msg =
        Message::from_vec(&tcp_raw(addr, &query(8, "api.payments.example.com", 1, None)).await)
            .unwrap();
    assert_eq!(a_of(&msg), enis(&control, "payments"));
    // The public view never forwards (no open reflector): REFUSED.
    let public_addr = dns.addr(&ViewId::Public);
    assert_eq!(
        ask(public_addr, "api.payments.example.com")
            .await
            .metadata
            .response_code,
        ResponseCode::Refused
    );
    dns.server.shutdown().await;
    upstream.server.shutdown().await;
}

/// A free UDP+TCP port on 127.0.0.1 (bound and released).
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_command_answers_every_view_and_stops_on_sigterm() {
    let control = load(FIXTURE);
    let (p1, p2) = (free_port(), free_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vpcesim"))
        .args(["serve", crate::support::fixture(FIXTURE).to_str().unwrap()])
        .args([
            "--dns",
            &format!("127.0.0.1:{p1}"),
            "--dns",
            &format!("main=127.0.0.1:{p2}"),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vpcesim runs");
    let public_addr: SocketAddr = format!("127.0.0.1:{p1}").parse().unwrap();
    let main_addr: SocketAddr = format!("127.0.0.1:{p2}").parse().unwrap();
    let probe = query(1, "kinesis.us-east-1.amazonaws.com", 1, None);
    let mut up = false;
    for _ in 0..100 {
        if udp_raw(main_addr, &probe, Duration::from_millis(100))
            .await
            .is_some()
        {
            up = true;
            break;
        }
    }
    assert!(up, "serve answers within 10 s");
    assert_eq!(
        a_of(&ask(main_addr, "kinesis.us-east-1.amazonaws.com").await),
        enis(&control, "kinesis")
    );
    let mut public_set = public(&control, "kinesis-streams");
    public_set.sort();
    let mut got = a_of(&ask(public_addr, "kinesis.us-east-1.amazonaws.com").await);
    got.sort();
    assert_eq!(got, public_set);
    // SAFETY: kill(2) on the PID of the child this test started.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("serve did not exit within 5 s of SIGTERM");
    };
    let mut log = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "clean exit: {status}\n{log}");
    assert!(
        log.contains("serving DNS") && log.contains("kinesis.us-east-1.amazonaws.com"),
        "logs what it serves:\n{log}"
    );
    assert!(!log.contains("request:"), "no per-query log:\n{log}");
}

#[test]
fn zone_command_writes_one_file_per_zone_with_the_view_answers() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpcesim"))
        .args([
            "zone",
            crate::support::fixture(FIXTURE).to_str().unwrap(),
            "--vpc",
            "main",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let control = load(FIXTURE);
    let read =
        |zone: &str| std::fs::read_to_string(dir.path().join(format!("{zone}.zone"))).unwrap();
    let vpce = read(VPCE_ZONE);
    assert!(vpce.contains(&format!(
        "{}. 60 IN A {}",
        regional(&control, "kinesis"),
        enis(&control, "kinesis")[0]
    )));
    assert!(
        vpce.contains(&format!("*.{}. 60 IN A", regional(&control, "s3"))),
        "S3 subtree as a wildcard"
    );
    assert!(vpce.contains("IN SOA ns-1536.awsdns-00.co.uk. awsdns-hostmaster.amazon.com."));
    let kinesis = read("kinesis.us-east-1.amazonaws.com");
    assert!(kinesis.contains(&format!(
        "kinesis.us-east-1.amazonaws.com. 60 IN A {}",
        enis(&control, "kinesis")[0]
    )));
    let s3 = read("s3.us-east-1.amazonaws.com");
    assert!(s3.contains(&format!(
        "*.s3.us-east-1.amazonaws.com. 60 IN A {}",
        enis(&control, "s3")[0]
    )));
    // The custom name's CNAME lives in its parent's zone.
    assert!(read("payments.example.com").contains("api.payments.example.com. 60 IN CNAME"));
    // The public view: public addresses, no custom zone.
    let public_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpcesim"))
        .args([
            "zone",
            crate::support::fixture(FIXTURE).to_str().unwrap(),
            "--out",
        ])
        .arg(public_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let kinesis = std::fs::read_to_string(
        public_dir
            .path()
            .join("kinesis.us-east-1.amazonaws.com.zone"),
    )
    .unwrap();
    assert!(kinesis.contains(&format!("IN A {}", public(&control, "kinesis-streams")[0])));
    assert!(!public_dir.path().join("payments.example.com.zone").exists());
}
