//! The API under bad and hostile input, over raw HTTP on loopback (no outside program):
//! every answer is an EC2 error document, nothing bad is stored, connections and
//! requests are bounded, a panic does not take the next request down, and a huge
//! request does not stall DNS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use quick_xml::Reader;
use quick_xml::events::Event;
use vpcesim::api::{ApiState, Limits, router, serve};
use vpcesim::control::ControlPlane;

use crate::support::{ServeProcess, fixture, free_port, load, tcp_raw};

const VERSION: &str = "Version=2016-11-15";
const CONSUMER_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

/// An API server over the guide's topology, on its own runtime.
struct RawApi {
    addr: SocketAddr,
    control: Arc<Mutex<ControlPlane>>,
    _runtime: tokio::runtime::Runtime,
}

impl RawApi {
    fn start(limits: Limits, on_change: Arc<dyn Fn(&ControlPlane) + Send + Sync>) -> Self {
        let control = Arc::new(Mutex::new(load("guide.toml")));
        let started = Instant::now();
        let state = ApiState {
            control: control.clone(),
            clock: Arc::new(move || started.elapsed()),
            on_change,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        runtime.spawn(serve(listener, router(state, limits), limits));
        Self {
            addr,
            control,
            _runtime: runtime,
        }
    }

    fn plain() -> Self {
        Self::start(Limits::default(), Arc::new(|_: &ControlPlane| {}))
    }

    fn post(&self, body: &str) -> (u16, String) {
        post(self.addr, body)
    }
}

/// A form POST as the guide's consumer: (HTTP status, body).
fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={CONSUMER_KEY}/20250101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The `<Code>` of an EC2 error document, after checking the document is well-formed.
fn error_code(body: &str) -> String {
    assert_well_formed(body);
    assert!(body.contains("<Response><Errors><Error>"), "{body}");
    let start = body.find("<Code>").expect("a Code") + "<Code>".len();
    let end = body[start..].find("</Code>").expect("a /Code") + start;
    body[start..end].to_string()
}

/// Every event of `body` parses: the document is well-formed XML.
fn assert_well_formed(body: &str) {
    let mut reader = Reader::from_str(body);
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("malformed XML ({e}): {body:?}"),
        }
    }
}

fn endpoint_id(api: &RawApi) -> String {
    let (status, body) = api.post(&format!(
        "Action=CreateVpcEndpoint&{VERSION}&VpcEndpointType=Interface&VpcId=vpc-ec43eb89\
         &ServiceName=com.amazonaws.us-east-1.elasticloadbalancing&SubnetId.1=subnet-abababab"
    ));
    assert_eq!(status, 200, "{body}");
    let start = body.find("<vpcEndpointId>").expect("an ID") + "<vpcEndpointId>".len();
    body[start..start + "vpce-0123456789abcdef0".len()].to_string()
}

#[test]
fn action_and_version_are_checked() {
    let api = RawApi::plain();
    let cases = [
        ("Action=DescribeVpcEndpoints", 400, "MissingParameter"),
        (
            "Action=DescribeVpcEndpoints&Version=2014-01-01",
            400,
            "NoSuchVersion",
        ),
        (VERSION, 400, "MissingAction"),
        ("Action=Frobnicate&Version=2016-11-15", 400, "InvalidAction"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = api.post(body);
        assert_eq!(
            (got, error_code(&answer).as_str()),
            (status, code),
            "{body}"
        );
    }
    let (status, body) = api.post(&format!("Action=DescribeVpcEndpoints&{VERSION}"));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn control_characters_are_refused_and_describe_stays_well_formed() {
    let api = RawApi::plain();
    let id = endpoint_id(&api);
    for bad in ["%00", "a%01b", "%EF%BF%BE", "%EF%BF%BF", "%1B%5B31m"] {
        let (status, body) = api.post(&format!(
            "Action=CreateTags&{VERSION}&ResourceId.1={id}&Tag.1.Key=k&Tag.1.Value={bad}"
        ));
        assert_eq!(
            (status, error_code(&body).as_str()),
            (400, "InvalidParameterValue"),
            "{bad}"
        );
    }
    let (status, body) = api.post(&format!(
        "Action=CreateVpcEndpoint&{VERSION}&VpcEndpointType=Interface&VpcId=vpc-ec43eb89\
         &ServiceName=com.amazonaws.us-east-1.sts&SubnetId.1=subnet-abababab\
         &TagSpecification.1.ResourceType=vpc-endpoint&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=%07"
    ));
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "InvalidParameterValue")
    );
    let (status, body) = api.post(&format!("Action=DescribeVpcEndpoints&{VERSION}"));
    assert_eq!(status, 200);
    assert_well_formed(&body);
    assert!(!body.contains("<key>k</key>"), "nothing was stored: {body}");
    assert_eq!(
        api.control.lock().topology().endpoints.len(),
        1,
        "the refused create left nothing"
    );
}

#[test]
fn list_indexes_out_of_range_are_refused_not_ignored() {
    let api = RawApi::plain();
    endpoint_id(&api);
    for body in [
        "VpcEndpointId.99999999999=vpce-0123456789abcdef0",
        "VpcEndpointId.0=vpce-0123456789abcdef0",
    ] {
        let (status, answer) = api.post(&format!("Action=DescribeVpcEndpoints&{VERSION}&{body}"));
        assert_eq!(
            (status, error_code(&answer).as_str()),
            (400, "InvalidParameterValue"),
            "{body}: must not answer every endpoint as if no ID were given"
        );
    }
}

#[test]
fn filters_values_and_max_results_have_ec2s_caps() {
    let api = RawApi::plain();
    let mut filters = String::new();
    for n in 1..=51 {
        filters.push_str(&format!("&Filter.{n}.Name=vpc-id&Filter.{n}.Value.1=x"));
    }
    let (status, body) = api.post(&format!("Action=DescribeVpcEndpoints&{VERSION}{filters}"));
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "FilterLimitExceeded")
    );
    let mut values = String::from("&Filter.1.Name=vpc-id");
    for m in 1..=201 {
        values.push_str(&format!("&Filter.1.Value.{m}=x"));
    }
    let (status, body) = api.post(&format!("Action=DescribeVpcEndpoints&{VERSION}{values}"));
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "FilterLimitExceeded")
    );
    let (status, body) = api.post(&format!(
        "Action=DescribeVpcEndpoints&{VERSION}&MaxResults=4"
    ));
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "InvalidParameterValue")
    );
    let (status, _) = api.post(&format!(
        "Action=DescribeVpcEndpoints&{VERSION}&MaxResults=5"
    ));
    assert_eq!(status, 200);
}

#[test]
fn an_oversized_body_is_answered_413_as_ec2_xml() {
    let api = RawApi::plain();
    let mut stream = TcpStream::connect(api.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3000000\r\nConnection: close\r\n\r\nAction=DescribeVpcs",
        api.addr
    );
    stream.write_all(head.as_bytes()).expect("send");
    let (status, body) = read_response(&mut stream);
    assert_eq!(
        (status, error_code(&body).as_str()),
        (413, "RequestEntityTooLarge")
    );
}

#[test]
fn half_open_and_idle_connections_are_closed_after_the_header_timeout() {
    let limits = Limits {
        header_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let api = RawApi::start(limits, Arc::new(|_: &ControlPlane| {}));
    let mut half_open = TcpStream::connect(api.addr).expect("connect");
    half_open
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .expect("send");
    let idle = TcpStream::connect(api.addr).expect("connect");
    let started = Instant::now();
    for mut stream in [half_open, idle] {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = Vec::new();
        // The server closes (possibly after a 408 line): the read ends, it does not time out.
        let read = stream.read_to_end(&mut buf);
        assert!(read.is_ok(), "the connection stayed open: {read:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn connections_beyond_the_bound_wait_for_a_free_one() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let api = RawApi::start(limits, Arc::new(|_: &ControlPlane| {}));
    let holders: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(api.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let addr = api.addr;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(post(addr, &format!("Action=DescribeVpcs&{VERSION}")));
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "a third connection was served while two were held"
    );
    drop(holders);
    let (status, _) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("served once a connection was free");
    assert_eq!(status, 200);
}

#[test]
fn a_panicking_request_is_followed_by_a_working_one() {
    let first = Arc::new(AtomicBool::new(true));
    let api = RawApi::start(
        Limits::default(),
        Arc::new(move |_: &ControlPlane| {
            assert!(
                !first.swap(false, Ordering::SeqCst),
                "a deliberate panic while the control plane is locked"
            );
        }),
    );
    let (status, body) = api.post(&format!(
        "Action=CreateVpcEndpoint&{VERSION}&VpcEndpointType=Interface&VpcId=vpc-ec43eb89\
         &ServiceName=com.amazonaws.us-east-1.elasticloadbalancing&SubnetId.1=subnet-abababab"
    ));
    assert_eq!((status, error_code(&body).as_str()), (500, "InternalError"));
    let (status, body) = api.post(&format!("Action=DescribeVpcEndpoints&{VERSION}"));
    assert_eq!(status, 200, "the next request is served: {body}");
    assert!(
        body.contains("<vpcEndpointId>"),
        "the change committed before the panic is there: {body}"
    );
}

#[test]
fn a_dry_run_validates_and_changes_nothing() {
    let api = RawApi::plain();
    let id = endpoint_id(&api);
    // Let the new endpoint's `pending -> available` come due first.
    let (status, _) = api.post(&format!("Action=DescribeVpcEndpoints&{VERSION}"));
    assert_eq!(status, 200);
    let generation = api.control.lock().generation();
    let create = format!(
        "Action=CreateVpcEndpoint&{VERSION}&DryRun=true&VpcEndpointType=Interface&VpcId=vpc-ec43eb89\
         &ServiceName=com.amazonaws.us-east-1.sts&SubnetId.1=subnet-abababab"
    );
    let (status, body) = api.post(&create);
    assert_eq!(
        (status, error_code(&body).as_str()),
        (412, "DryRunOperation")
    );
    let (status, body) = api.post(&create.replace("subnet-abababab", "subnet-00000000"));
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "InvalidSubnetID.NotFound"),
        "a dry run still validates"
    );
    for call in [
        format!("Action=DeleteVpcEndpoints&{VERSION}&DryRun=true&VpcEndpointId.1={id}"),
        format!(
            "Action=CreateTags&{VERSION}&DryRun=true&ResourceId.1={id}&Tag.1.Key=k&Tag.1.Value=v"
        ),
        format!(
            "Action=ModifyVpcEndpoint&{VERSION}&DryRun=true&VpcEndpointId={id}&AddSubnetId.1=subnet-aabb1122"
        ),
    ] {
        let (status, body) = api.post(&call);
        assert_eq!(
            (status, error_code(&body).as_str()),
            (412, "DryRunOperation"),
            "{call}"
        );
    }
    let control = api.control.lock();
    assert_eq!(control.generation(), generation, "nothing changed");
    assert_eq!(control.topology().endpoints.len(), 1);
    let endpoint = control.topology().endpoints.values().next().expect("one");
    assert_eq!(endpoint.enis.len(), 1);
    assert!(endpoint.tags.is_empty());
}

/// The request that once held the control plane for 24 s, sent to the real binary while
/// DNS over TCP is asked: it is answered (refused) within 2 s and DNS within 1 s.
#[test]
fn a_hundred_thousand_filters_do_not_stall_dns() {
    let api_port = free_port();
    let dns_port = free_port();
    let api_addr: SocketAddr = format!("127.0.0.1:{api_port}").parse().expect("addr");
    let dns_addr: SocketAddr = format!("127.0.0.1:{dns_port}").parse().expect("addr");
    let guide = fixture("guide.toml");
    let _serve = ServeProcess::start(
        &[
            guide.to_str().expect("a UTF-8 path"),
            "--api",
            &api_addr.to_string(),
            "--dns",
            &dns_addr.to_string(),
        ],
        &["serving DNS", "serving the EC2 API"],
    );
    let mut body = format!("Action=DescribeVpcEndpoints&{VERSION}");
    for n in 1..=100_000 {
        body.push_str(&format!("&Filter.{n}.Name=a"));
    }
    assert!(body.len() < 2 << 20, "{} bytes", body.len());
    let sender = std::thread::spawn(move || {
        let started = Instant::now();
        let (status, answer) = post(api_addr, &body);
        (status, answer, started.elapsed())
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let query = dns_query("kinesis.us-east-1.amazonaws.com");
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let answer = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), tcp_raw(dns_addr, &query)).await
        });
        assert!(answer.is_ok(), "DNS over TCP did not answer within 5 s");
        slowest = slowest.max(started.elapsed());
    }
    let (status, answer, took) = sender.join().expect("the API client");
    eprintln!(
        "100,000-filter request: HTTP {status} in {took:?}; slowest DNS-over-TCP answer meanwhile: {slowest:?}"
    );
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "FilterLimitExceeded")
    );
    assert!(took < Duration::from_secs(2), "the API took {took:?}");
    assert!(slowest < Duration::from_secs(1), "DNS took {slowest:?}");
}

/// A wire-format A query with RD for `name`.
fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).expect("a short label"));
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}
