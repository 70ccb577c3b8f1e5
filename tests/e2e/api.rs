//! The EC2 Query API driven by the real AWS CLI (and raw HTTP for status codes): the
//! commands of AWS's interface-endpoint guide, as printed, against the guide's IDs.
//!
//! The CLI comes from `VPCESIM_AWS_CLI`, `.venv-aws/bin/aws` (see `.ci/run`) or `PATH`.
//! These tests are ignored by plain `cargo test`; run with `--include-ignored` without the
//! CLI they fail, naming it, they never skip. Each test starts the router on 127.0.0.1:0.
//! After every CLI call the test calls [`Api::after`]: it checks that a changing call
//! reached `on_change` and a reading one did not. One test runs the real `vpcesim serve`
//! with `--api` and `--dns` instead, and checks with `dig` that each command's change
//! reaches the DNS answers of the same process.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use vpcesim::api::{ApiState, Limits, router, serve};
use vpcesim::control::ControlPlane;

use crate::support::{ServeProcess, dig, fixture, free_port, load};

const CONSUMER_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const PROVIDER_KEY: &str = "AKIAI44QH8DHBEXAMPLE";
const ELB: &str = "com.amazonaws.us-east-1.elasticloadbalancing";
const GUIDE_POLICY: &str = "{\n  \"Statement\": [\n    {\n      \"Action\": \"*\", \n      \"Effect\": \"Allow\", \n      \"Principal\": \"*\", \n      \"Resource\": \"*\"\n    }\n  ]\n}";

/// A running API server over the guide's topology, and the AWS CLI to drive it.
struct Api {
    addr: SocketAddr,
    control: Arc<Mutex<ControlPlane>>,
    changes: Arc<AtomicUsize>,
    seen_changes: usize,
    aws: PathBuf,
    _runtime: tokio::runtime::Runtime,
}

/// What a CLI call returned: its JSON output, or the error code it printed.
type CliResult = Result<Value, String>;

/// `aws ec2 create-vpc-endpoint` of an interface endpoint in `vpc` to `service`, then
/// `rest` (subnets, groups, options).
fn create_endpoint<'a>(vpc: &'a str, service: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "create-vpc-endpoint",
        "--vpc-id",
        vpc,
        "--vpc-endpoint-type",
        "Interface",
        "--service-name",
        service,
    ];
    args.extend_from_slice(rest);
    args
}

impl Api {
    fn start() -> Self {
        let control = Arc::new(Mutex::new(load("guide.toml")));
        let changes = Arc::new(AtomicUsize::new(0));
        let counter = changes.clone();
        let started = Instant::now();
        let state = ApiState {
            control: control.clone(),
            clock: Arc::new(move || started.elapsed()),
            on_change: Arc::new(move |_: &ControlPlane| {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        runtime.spawn(serve(
            listener,
            router(state, Limits::default()),
            Limits::default(),
        ));
        Self {
            addr,
            control,
            changes,
            seen_changes: 0,
            aws: crate::support::aws_program(),
            _runtime: runtime,
        }
    }

    /// `aws ec2 ARGS... --endpoint-url ...` as the account of `key`.
    fn aws_as(&self, key: &str, args: &[&str]) -> CliResult {
        run_aws(&self.aws, self.addr, key, args)
    }

    /// A command as the consumer (the guide's account).
    fn aws(&self, args: &[&str]) -> CliResult {
        self.aws_as(CONSUMER_KEY, args)
    }

    /// Runs after each CLI call: a call that changed the world reached `on_change` (so
    /// `serve` rebuilt its DNS), one that did not left it alone. What `serve` then
    /// answers is checked with `dig` in [`ServedGuide`].
    fn after(&mut self, step: &str, changed: bool) {
        let now = self.changes.load(Ordering::SeqCst);
        if changed {
            assert!(now > self.seen_changes, "{step}: on_change was not called");
        } else {
            assert_eq!(
                now, self.seen_changes,
                "{step}: on_change called for a call that changed nothing"
            );
        }
        self.seen_changes = now;
    }

    /// Applies the transitions already due (provisioning is 0 s), so that the next
    /// call's own changes are all that `after` sees.
    fn settle(&mut self) {
        self.control.lock().advance(Duration::ZERO);
        self.seen_changes = self.changes.load(Ordering::SeqCst);
    }

    /// A raw form POST: (HTTP status, body).
    fn post(&self, body: &str, key: Option<&str>) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let auth = key.map_or(String::new(), |k| {
            format!("Authorization: AWS4-HMAC-SHA256 Credential={k}/20250101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n")
        });
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

/// `aws ec2 ARGS... --endpoint-url http://ADDR` as the account of `key`.
fn run_aws(aws: &Path, addr: SocketAddr, key: &str, args: &[&str]) -> CliResult {
    let url = format!("http://{addr}");
    let out = Command::new(aws)
        .arg("ec2")
        .args(args)
        .args([
            "--endpoint-url",
            &url,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", key)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("run the AWS CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        if stdout.trim().is_empty() {
            return Ok(Value::Null);
        }
        return Ok(serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("aws {args:?} printed no JSON ({e}): {stdout}")));
    }
    // "An error occurred (CODE) when calling the X operation: message"
    let code = stderr
        .split_once("An error occurred (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(code, _)| code.to_string())
        .unwrap_or_else(|| panic!("aws {args:?} failed without an EC2 error: {stderr}"));
    Err(code)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| s(x).to_string())
        .collect()
}

fn dns_names(endpoint: &Value) -> Vec<String> {
    endpoint["DnsEntries"]
        .as_array()
        .expect("DnsEntries")
        .iter()
        .map(|e| s(&e["DnsName"]).to_string())
        .collect()
}

#[test]
#[ignore = "needs the AWS CLI: run .ci/run or cargo test -- --include-ignored"]
fn the_guides_commands_work_unchanged() {
    let mut api = Api::start();

    // aws ec2 describe-vpc-endpoint-services
    let out = api.aws(&["describe-vpc-endpoint-services"]).unwrap();
    api.after("describe-vpc-endpoint-services", false);
    assert!(strings(&out["ServiceNames"]).contains(&ELB.to_string()));
    let elb = out["ServiceDetails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["ServiceName"] == ELB)
        .expect("ELB in ServiceDetails");
    assert_eq!(elb["ServiceType"][0]["ServiceType"], "Interface");
    assert_eq!(elb["Owner"], "amazon");
    assert_eq!(
        elb["PrivateDnsName"],
        "elasticloadbalancing.us-east-1.amazonaws.com"
    );
    assert_eq!(elb["AcceptanceRequired"], false);
    assert_eq!(strings(&elb["AvailabilityZones"]).len(), 6);
    assert_eq!(
        strings(&elb["BaseEndpointDnsNames"]),
        ["elasticloadbalancing.us-east-1.vpce.amazonaws.com"]
    );

    // aws ec2 create-vpc-endpoint --vpc-id vpc-ec43eb89 --vpc-endpoint-type Interface
    //   --service-name com.amazonaws.us-east-1.elasticloadbalancing
    //   --subnet-id subnet-abababab --security-group-id sg-1a2b3c4d
    let out = api
        .aws(&create_endpoint(
            "vpc-ec43eb89",
            ELB,
            &[
                "--subnet-id",
                "subnet-abababab",
                "--security-group-id",
                "sg-1a2b3c4d",
            ],
        ))
        .unwrap();
    api.after("create-vpc-endpoint", true);
    let ep = &out["VpcEndpoint"];
    let id = s(&ep["VpcEndpointId"]).to_string();
    assert!(id.starts_with("vpce-") && id.len() == 22, "{id}");
    assert_eq!(ep["VpcId"], "vpc-ec43eb89");
    assert_eq!(ep["VpcEndpointType"], "Interface");
    assert_eq!(ep["ServiceName"], ELB);
    assert_eq!(ep["State"], "pending");
    assert_eq!(ep["PrivateDnsEnabled"], true);
    assert_eq!(ep["PolicyDocument"], GUIDE_POLICY);
    assert_eq!(strings(&ep["SubnetIds"]), ["subnet-abababab"]);
    assert_eq!(ep["RouteTableIds"], Value::Array(vec![]));
    assert_eq!(ep["Groups"][0]["GroupId"], "sg-1a2b3c4d");
    assert_eq!(ep["OwnerId"], "123456789012");
    assert_eq!(strings(&ep["NetworkInterfaceIds"]).len(), 1);
    assert!(s(&ep["CreationTimestamp"]).ends_with('Z'));
    let names = dns_names(ep);
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names[0].starts_with(&format!("{id}-"))
            && names[0].ends_with(".elasticloadbalancing.us-east-1.vpce.amazonaws.com")
    );
    assert!(names[1].contains("-us-east-1a.elasticloadbalancing.us-east-1.vpce.amazonaws.com"));
    assert_eq!(names[2], "elasticloadbalancing.us-east-1.amazonaws.com");
    assert_eq!(ep["DnsEntries"][0]["HostedZoneId"], "Z7HUB22UULQXV");
    {
        let control = api.control.lock();
        let t = control.topology();
        let model = t
            .endpoints
            .values()
            .find(|e| e.id == id)
            .expect("in the control plane");
        let eni = &t.enis[&model.enis[0]];
        assert!(t.subnets["a"].cidr.contains(&eni.ip), "{}", eni.ip);
    }

    // aws ec2 describe-vpc-endpoints --vpc-endpoint-ids vpce-...
    let out = api
        .aws(&["describe-vpc-endpoints", "--vpc-endpoint-ids", &id])
        .unwrap();
    api.after("describe-vpc-endpoints", true); // pending -> available on the clock
    let described = &out["VpcEndpoints"][0];
    assert_eq!(described["State"], "available");
    assert_eq!(dns_names(described), names);

    // aws ec2 modify-vpc-endpoint --vpc-endpoint-id vpce-... --add-subnet-id subnet-aabb1122
    let out = api
        .aws(&[
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &id,
            "--add-subnet-id",
            "subnet-aabb1122",
        ])
        .unwrap();
    api.after("modify-vpc-endpoint", true);
    assert_eq!(out["Return"], true);
    // aws ec2 describe-vpc-endpoints
    let out = api.aws(&["describe-vpc-endpoints"]).unwrap();
    api.after("describe-vpc-endpoints (all)", false);
    let described = &out["VpcEndpoints"][0];
    assert_eq!(
        strings(&described["SubnetIds"]),
        ["subnet-abababab", "subnet-aabb1122"]
    );
    assert_eq!(strings(&described["NetworkInterfaceIds"]).len(), 2);
    let names = dns_names(described);
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names[2].contains("-us-east-1b.elasticloadbalancing"),
        "{names:?}"
    );

    // aws ec2 create-vpc-endpoint-connection-notification --connection-notification-arn
    //   arn:aws:sns:us-east-2:123456789012:EndpointNotification --connection-events Accept
    //   Reject --vpc-endpoint-id vpce-...
    let out = api
        .aws(&[
            "create-vpc-endpoint-connection-notification",
            "--connection-notification-arn",
            "arn:aws:sns:us-east-2:123456789012:EndpointNotification",
            "--connection-events",
            "Accept",
            "Reject",
            "--vpc-endpoint-id",
            &id,
        ])
        .unwrap();
    api.after("create-vpc-endpoint-connection-notification", true);
    let n = &out["ConnectionNotification"];
    let nfn = s(&n["ConnectionNotificationId"]).to_string();
    assert!(nfn.starts_with("vpce-nfn-") && nfn.len() == 26, "{nfn}");
    assert_eq!(n["VpcEndpointId"], id.as_str());
    assert_eq!(n["ConnectionNotificationType"], "Topic");
    assert_eq!(n["ConnectionNotificationState"], "Enabled");
    assert_eq!(strings(&n["ConnectionEvents"]), ["Accept", "Reject"]);

    // aws ec2 describe-vpc-endpoint-connection-notifications
    let out = api
        .aws(&["describe-vpc-endpoint-connection-notifications"])
        .unwrap();
    api.after("describe-vpc-endpoint-connection-notifications", false);
    let set = out["ConnectionNotificationSet"].as_array().unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(
        set[0]["ConnectionNotificationArn"],
        "arn:aws:sns:us-east-2:123456789012:EndpointNotification"
    );

    // aws ec2 modify-vpc-endpoint-connection-notification --connection-notification-id
    //   vpce-nfn-... --connection-events Accept --connection-notification-arn
    //   arn:aws:sns:us-east-2:123456789012:mytopic
    let out = api
        .aws(&[
            "modify-vpc-endpoint-connection-notification",
            "--connection-notification-id",
            &nfn,
            "--connection-events",
            "Accept",
            "--connection-notification-arn",
            "arn:aws:sns:us-east-2:123456789012:mytopic",
        ])
        .unwrap();
    api.after("modify-vpc-endpoint-connection-notification", true);
    assert_eq!(out["ReturnValue"], true);
    let out = api
        .aws(&["describe-vpc-endpoint-connection-notifications"])
        .unwrap();
    api.after("describe-vpc-endpoint-connection-notifications", false);
    let n = &out["ConnectionNotificationSet"][0];
    assert_eq!(
        n["ConnectionNotificationArn"],
        "arn:aws:sns:us-east-2:123456789012:mytopic"
    );
    assert_eq!(strings(&n["ConnectionEvents"]), ["Accept"]);

    // aws ec2 delete-vpc-endpoint-connection-notifications --connection-notification-ids vpce-nfn-...
    let out = api
        .aws(&[
            "delete-vpc-endpoint-connection-notifications",
            "--connection-notification-ids",
            &nfn,
        ])
        .unwrap();
    api.after("delete-vpc-endpoint-connection-notifications", true);
    assert_eq!(out["Unsuccessful"], Value::Array(vec![]));
    let out = api
        .aws(&["describe-vpc-endpoint-connection-notifications"])
        .unwrap();
    api.after("describe-vpc-endpoint-connection-notifications", false);
    assert_eq!(out["ConnectionNotificationSet"], Value::Array(vec![]));
    let out = api
        .aws(&[
            "delete-vpc-endpoint-connection-notifications",
            "--connection-notification-ids",
            &nfn,
        ])
        .unwrap();
    api.after(
        "delete-vpc-endpoint-connection-notifications (again)",
        false,
    );
    assert_eq!(
        out["Unsuccessful"][0]["Error"]["Code"],
        "InvalidConnectionNotification"
    );
    assert_eq!(out["Unsuccessful"][0]["ResourceId"], nfn.as_str());

    // aws ec2 delete-vpc-endpoints --vpc-endpoint-ids vpce-...
    let out = api
        .aws(&["delete-vpc-endpoints", "--vpc-endpoint-ids", &id])
        .unwrap();
    api.after("delete-vpc-endpoints", true);
    assert_eq!(out["Unsuccessful"], Value::Array(vec![]));
    let out = api
        .aws(&["describe-vpc-endpoints", "--vpc-endpoint-ids", &id])
        .unwrap();
    api.after("describe-vpc-endpoints (deleted)", true); // deleting -> deleted on the clock
    let described = &out["VpcEndpoints"][0];
    assert_eq!(described["State"], "deleted");
    assert_eq!(described["DnsEntries"], Value::Array(vec![]));
    assert!(api.control.lock().topology().enis.is_empty());
}

/// The real `vpcesim serve` with `--api` and a `--dns` listener as the guide VPC's
/// resolver: the guide's commands through the AWS CLI, and `dig` after each of them.
struct ServedGuide {
    serve: ServeProcess,
    api: SocketAddr,
    dns: u16,
    aws: PathBuf,
}

/// The names `dig` checks: the endpoint's regional and zonal names, and ELB's private name.
const ELB_PRIVATE: &str = "elasticloadbalancing.us-east-1.amazonaws.com";

impl ServedGuide {
    fn start() -> Self {
        let fixture = fixture("guide.toml");
        let (api_port, dns_port) = (free_port(), free_port());
        let api = SocketAddr::from(([127, 0, 0, 1], api_port));
        let serve = ServeProcess::start(
            &[
                fixture.to_str().expect("a UTF-8 path"),
                "--api",
                &api.to_string(),
                "--dns",
                &format!("guide=127.0.0.1:{dns_port}"),
            ],
            &["serving DNS", "serving the EC2 API"],
        );
        Self {
            serve,
            api,
            dns: dns_port,
            aws: crate::support::aws_program(),
        }
    }

    fn aws(&self, args: &[&str]) -> CliResult {
        run_aws(&self.aws, self.api, CONSUMER_KEY, args)
    }

    /// `dig` for an A record: NOERROR with exactly `want`, in order, TTL 60.
    fn dig_is(&self, step: &str, name: &str, want: &[Ipv4Addr]) {
        let got = dig(self.dns, name);
        assert_eq!(got.status, "NOERROR", "{step}: dig {name}: {got:?}");
        assert_eq!(got.addresses, want, "{step}: dig {name}");
        assert!(got.ttls.iter().all(|&t| t == 60), "{step}: {got:?}");
    }

    /// `dig` until the answer is `want` (NOERROR) or 2 s have passed: for changes that
    /// `serve` makes on its own 100 ms clock.
    fn dig_becomes(&self, step: &str, name: &str, want: &[Ipv4Addr]) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let got = dig(self.dns, name);
            if got.status == "NOERROR" && got.addresses == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{step}: dig {name} still answers {got:?} after 2 s, want {want:?}\n{}",
                self.serve.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `dig` for a name that must not exist: NXDOMAIN, no answer.
    fn dig_nxdomain(&self, step: &str, name: &str) {
        let got = dig(self.dns, name);
        assert_eq!(got.status, "NXDOMAIN", "{step}: dig {name}: {got:?}");
        assert!(got.addresses.is_empty(), "{step}: {got:?}");
    }

    /// The private address of each ENI, in the order given.
    fn eni_ips(&self, eni_ids: &[String]) -> Vec<Ipv4Addr> {
        let mut args = vec!["describe-network-interfaces", "--network-interface-ids"];
        args.extend(eni_ids.iter().map(String::as_str));
        let out = self.aws(&args).unwrap();
        eni_ids
            .iter()
            .map(|id| {
                let eni = out["NetworkInterfaces"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|n| n["NetworkInterfaceId"] == id.as_str())
                    .unwrap_or_else(|| panic!("{id} not described: {out}"));
                s(&eni["PrivateIpAddress"])
                    .parse()
                    .expect("an IPv4 address")
            })
            .collect()
    }
}

/// The guide's commands against `serve`, and `dig` against the same `serve` sees
/// each change as docs/behaviour.md §2-§4 say.
#[test]
#[ignore = "needs the AWS CLI and dig: run .ci/run or cargo test -- --include-ignored"]
fn dig_against_serve_sees_each_change_of_the_guides_commands() {
    let guide = ServedGuide::start();
    let public = vpcesim::catalog::lookup(&vpcesim::model::Region::default(), ELB)
        .expect("ELB in the catalog")
        .public_addresses
        .clone();
    assert!(!public.is_empty());
    guide.dig_is("before create", ELB_PRIVATE, &public);

    // aws ec2 create-vpc-endpoint --vpc-id vpc-ec43eb89 --vpc-endpoint-type Interface
    //   --service-name com.amazonaws.us-east-1.elasticloadbalancing
    //   --subnet-id subnet-abababab --security-group-id sg-1a2b3c4d
    let out = guide
        .aws(&create_endpoint(
            "vpc-ec43eb89",
            ELB,
            &[
                "--subnet-id",
                "subnet-abababab",
                "--security-group-id",
                "sg-1a2b3c4d",
            ],
        ))
        .unwrap();
    let ep = &out["VpcEndpoint"];
    assert_eq!(ep["State"], "pending");
    let id = s(&ep["VpcEndpointId"]).to_string();
    let names = dns_names(ep);
    let (regional, zonal_a) = (names[0].clone(), names[1].clone());
    let ip_a = guide.eni_ips(&strings(&ep["NetworkInterfaceIds"]))[0];
    assert!(
        ip_a.octets()[..3] == [10, 0, 1],
        "{ip_a} in subnet-abababab"
    );
    // The vpce names resolve at once (pending included); private DNS once available.
    guide.dig_is("create", &regional, &[ip_a]);
    guide.dig_is("create", &zonal_a, &[ip_a]);
    guide.dig_becomes("create, then available", ELB_PRIVATE, &[ip_a]);
    let out = guide
        .aws(&["describe-vpc-endpoints", "--vpc-endpoint-ids", &id])
        .unwrap();
    assert_eq!(out["VpcEndpoints"][0]["State"], "available");

    // aws ec2 modify-vpc-endpoint --vpc-endpoint-id vpce-... --add-subnet-id subnet-aabb1122
    let out = guide
        .aws(&[
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &id,
            "--add-subnet-id",
            "subnet-aabb1122",
        ])
        .unwrap();
    assert_eq!(out["Return"], true);
    let out = guide.aws(&["describe-vpc-endpoints"]).unwrap();
    let described = &out["VpcEndpoints"][0];
    let ips = guide.eni_ips(&strings(&described["NetworkInterfaceIds"]));
    assert_eq!(ips.len(), 2);
    assert_eq!(ips[0], ip_a);
    let ip_b = ips[1];
    assert!(
        ip_b.octets()[..3] == [10, 0, 2],
        "{ip_b} in subnet-aabb1122"
    );
    let zonal_b = dns_names(described)
        .into_iter()
        .find(|n| n.contains("-us-east-1b."))
        .expect("a zonal name in us-east-1b");
    guide.dig_is("add-subnet-id", &regional, &[ip_a, ip_b]);
    guide.dig_is("add-subnet-id", &zonal_a, &[ip_a]);
    guide.dig_is("add-subnet-id", &zonal_b, &[ip_b]);
    guide.dig_is("add-subnet-id", ELB_PRIVATE, &[ip_a, ip_b]);

    // Private DNS off: the default name answers the public addresses again, the vpce
    // names stay; on again: the ENIs again.
    let out = guide
        .aws(&[
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &id,
            "--no-private-dns-enabled",
        ])
        .unwrap();
    assert_eq!(out["Return"], true);
    guide.dig_is("private DNS off", ELB_PRIVATE, &public);
    guide.dig_is("private DNS off", &regional, &[ip_a, ip_b]);
    guide
        .aws(&[
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &id,
            "--private-dns-enabled",
        ])
        .unwrap();
    guide.dig_is("private DNS on", ELB_PRIVATE, &[ip_a, ip_b]);

    // The guide's connection-notification commands change no name.
    let out = guide
        .aws(&[
            "create-vpc-endpoint-connection-notification",
            "--connection-notification-arn",
            "arn:aws:sns:us-east-2:123456789012:EndpointNotification",
            "--connection-events",
            "Accept",
            "Reject",
            "--vpc-endpoint-id",
            &id,
        ])
        .unwrap();
    let nfn = s(&out["ConnectionNotification"]["ConnectionNotificationId"]).to_string();
    let out = guide
        .aws(&["describe-vpc-endpoint-connection-notifications"])
        .unwrap();
    assert_eq!(
        out["ConnectionNotificationSet"][0]["ConnectionNotificationId"],
        nfn.as_str()
    );
    let out = guide
        .aws(&[
            "modify-vpc-endpoint-connection-notification",
            "--connection-notification-id",
            &nfn,
            "--connection-events",
            "Accept",
            "--connection-notification-arn",
            "arn:aws:sns:us-east-2:123456789012:mytopic",
        ])
        .unwrap();
    assert_eq!(out["ReturnValue"], true);
    let out = guide
        .aws(&[
            "delete-vpc-endpoint-connection-notifications",
            "--connection-notification-ids",
            &nfn,
        ])
        .unwrap();
    assert_eq!(out["Unsuccessful"], Value::Array(vec![]));
    guide.dig_is("connection notifications", &regional, &[ip_a, ip_b]);
    guide.dig_is("connection notifications", ELB_PRIVATE, &[ip_a, ip_b]);

    // aws ec2 delete-vpc-endpoints --vpc-endpoint-ids vpce-...: `deleting` already has no
    // names (NXDOMAIN) and no private DNS.
    let out = guide
        .aws(&["delete-vpc-endpoints", "--vpc-endpoint-ids", &id])
        .unwrap();
    assert_eq!(out["Unsuccessful"], Value::Array(vec![]));
    guide.dig_nxdomain("delete", &regional);
    guide.dig_nxdomain("delete", &zonal_a);
    guide.dig_nxdomain("delete", &zonal_b);
    guide.dig_is("delete", ELB_PRIVATE, &public);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let out = guide
            .aws(&["describe-vpc-endpoints", "--vpc-endpoint-ids", &id])
            .unwrap();
        if out["VpcEndpoints"][0]["State"] == "deleted" {
            break;
        }
        assert!(Instant::now() < deadline, "not deleted after 2 s: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    guide.dig_nxdomain("deleted", &regional);
}

#[test]
#[ignore = "needs the AWS CLI: run .ci/run or cargo test -- --include-ignored"]
fn errors_carry_ec2_codes() {
    let mut api = Api::start();
    let create = |api: &Api, extra: &[&str]| {
        let mut rest = vec!["--security-group-id", "sg-1a2b3c4d"];
        rest.extend_from_slice(extra);
        api.aws(&create_endpoint("vpc-ec43eb89", ELB, &rest))
    };
    let cases: Vec<(&[&str], &str)> = vec![
        (
            &["--subnet-id", "subnet-abababab", "subnet-cdcdcdcd"],
            "DuplicateSubnetsInSameZone",
        ),
        (
            &["--subnet-id", "subnet-00000000"],
            "InvalidSubnetID.NotFound",
        ),
        (
            &["--subnet-id", "subnet-abababab", "--dry-run"],
            "DryRunOperation",
        ),
    ];
    for (extra, code) in cases {
        assert_eq!(create(&api, extra).unwrap_err(), code, "{extra:?}");
        api.after(code, false);
    }
    let err = api
        .aws(&create_endpoint(
            "vpc-ec43eb89",
            "com.amazonaws.us-east-1.elasticbeanstalk.health",
            &["--subnet-id", "subnet-abababab"],
        ))
        .unwrap_err();
    assert_eq!(err, "InvalidServiceName");
    let err = api
        .aws(&create_endpoint(
            "vpc-00000000",
            ELB,
            &["--subnet-id", "subnet-abababab"],
        ))
        .unwrap_err();
    assert_eq!(err, "InvalidVpcID.NotFound");
    api.after("rejected creates", false);
    assert!(
        api.control.lock().topology().endpoints.is_empty(),
        "nothing was created"
    );

    create(&api, &["--subnet-id", "subnet-abababab"]).unwrap();
    api.after("create", true);
    api.settle();
    assert_eq!(
        create(&api, &["--subnet-id", "subnet-aabb1122"]).unwrap_err(),
        "InvalidParameter",
        "private DNS conflict"
    );
    api.after("conflict", false);

    for (ids, code) in [
        ("vpce-0123456789abcdef0", "InvalidVpcEndpointId.NotFound"),
        ("vpce-bogus", "InvalidVpcEndpointId.Malformed"),
    ] {
        let err = api
            .aws(&["describe-vpc-endpoints", "--vpc-endpoint-ids", ids])
            .unwrap_err();
        assert_eq!(err, code);
    }
    let err = api
        .aws(&[
            "describe-vpc-endpoints",
            "--filters",
            "Name=colour,Values=red",
        ])
        .unwrap_err();
    assert_eq!(err, "InvalidParameterValue");
    let err = api
        .aws_as("AKIAUNKNOWNEXAMPLE", &["describe-vpc-endpoints"])
        .unwrap_err();
    assert_eq!(err, "AuthFailure");

    // The wire: status codes and EC2's error document.
    let (status, body) = api.post(
        "Action=DescribeVpcEndpoints&Version=2016-11-15&DryRun=true",
        None,
    );
    assert_eq!(status, 412, "{body}");
    assert!(body.contains("<Code>DryRunOperation</Code><Message>Request would have succeeded, but DryRun flag is set.</Message>"), "{body}");
    let (status, body) = api.post(
        "Action=DescribeVpcEndpoints&Version=2016-11-15&VpcEndpointId.1=vpce-0123456789abcdef0",
        Some(CONSUMER_KEY),
    );
    assert_eq!(status, 400);
    assert!(
        body.contains("<Response><Errors><Error><Code>InvalidVpcEndpointId.NotFound</Code>")
            && body.contains("<RequestID>"),
        "{body}"
    );
    let (status, body) = api.post("Action=Frobnicate&Version=2016-11-15", None);
    assert_eq!(status, 400);
    assert!(body.contains("<Code>InvalidAction</Code>"), "{body}");
    let (status, _) = api.post(
        "Action=DescribeVpcs&Version=2016-11-15",
        Some("AKIAUNKNOWNEXAMPLE"),
    );
    assert_eq!(status, 401);
    let (status, body) = api.post("Action=DescribeVpcs&Version=2016-11-15", None);
    assert_eq!(status, 200);
    assert!(
        body.contains(
            "<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>"
        ),
        "{body}"
    );
    assert!(
        body.contains("<vpcId>vpc-ec43eb89</vpcId>"),
        "unsigned requests act as the first account: {body}"
    );
    api.after("reads", false);
}

#[test]
#[ignore = "needs the AWS CLI: run .ci/run or cargo test -- --include-ignored"]
fn describe_filters_and_pagination() {
    let mut api = Api::start();
    for service in ["sts", "kms", "ssm"] {
        api.aws(&create_endpoint(
            "vpc-ec43eb89",
            &format!("com.amazonaws.us-east-1.{service}"),
            &[
                "--subnet-id",
                "subnet-abababab",
                "--tag-specifications",
                &format!("ResourceType=vpc-endpoint,Tags=[{{Key=svc,Value={service}}}]"),
            ],
        ))
        .unwrap();
    }
    api.after("three creates", true);
    api.settle();
    let out = api
        .aws(&["describe-vpc-endpoints", "--max-items", "2"])
        .unwrap();
    assert_eq!(out["VpcEndpoints"].as_array().unwrap().len(), 2);
    assert!(out["NextToken"].is_string(), "{out}");
    assert_eq!(
        api.aws(&["describe-vpc-endpoints", "--page-size", "1"])
            .unwrap_err(),
        "InvalidParameterValue",
        "MaxResults below EC2's minimum of 5"
    );
    let out = api
        .aws(&["describe-vpc-endpoints", "--page-size", "5"])
        .unwrap();
    assert_eq!(out["VpcEndpoints"].as_array().unwrap().len(), 3);
    let out = api
        .aws(&[
            "describe-vpc-endpoints",
            "--filters",
            "Name=service-name,Values=com.amazonaws.us-east-1.kms,com.amazonaws.us-east-1.ssm",
        ])
        .unwrap();
    assert_eq!(out["VpcEndpoints"].as_array().unwrap().len(), 2);
    let out = api
        .aws(&[
            "describe-vpc-endpoints",
            "--filters",
            "Name=tag:svc,Values=s*",
            "Name=vpc-endpoint-state,Values=available",
        ])
        .unwrap();
    let got: Vec<&str> = out["VpcEndpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["ServiceName"]))
        .collect();
    assert_eq!(
        got,
        ["com.amazonaws.us-east-1.sts", "com.amazonaws.us-east-1.ssm"]
    );
    let out = api
        .aws(&[
            "describe-vpc-endpoints",
            "--filters",
            "Name=vpc-id,Values=vpc-00000000",
        ])
        .unwrap();
    assert_eq!(out["VpcEndpoints"], Value::Array(vec![]));
    let out = api
        .aws(&[
            "describe-vpc-endpoint-services",
            "--service-names",
            "com.amazonaws.us-east-1.kms",
        ])
        .unwrap();
    assert_eq!(
        strings(&out["ServiceNames"]),
        ["com.amazonaws.us-east-1.kms"]
    );
    // The provider's account sees no endpoints of the consumer.
    let out = api
        .aws_as(PROVIDER_KEY, &["describe-vpc-endpoints"])
        .unwrap();
    assert_eq!(out["VpcEndpoints"], Value::Array(vec![]));
    api.after("reads", false);
}

#[test]
#[ignore = "needs the AWS CLI: run .ci/run or cargo test -- --include-ignored"]
fn provider_configures_accepts_and_rejects() {
    let mut api = Api::start();
    let nlb = "arn:aws:elasticloadbalancing:us-east-1:210987654321:loadbalancer/net/nlb-vpce/e94221227f1ba532";
    let out = api
        .aws_as(
            PROVIDER_KEY,
            &[
                "create-vpc-endpoint-service-configuration",
                "--network-load-balancer-arns",
                nlb,
            ],
        )
        .unwrap();
    api.after("create-vpc-endpoint-service-configuration", true);
    let cfg = &out["ServiceConfiguration"];
    let svc_id = s(&cfg["ServiceId"]).to_string();
    let svc_name = s(&cfg["ServiceName"]).to_string();
    assert_eq!(svc_name, format!("com.amazonaws.vpce.us-east-1.{svc_id}"));
    assert_eq!(cfg["AcceptanceRequired"], true);
    assert_eq!(cfg["ServiceState"], "Available");
    assert_eq!(strings(&cfg["NetworkLoadBalancerArns"]), [nlb]);
    assert_eq!(strings(&cfg["AvailabilityZones"]).len(), 6);

    let out = api
        .aws_as(
            PROVIDER_KEY,
            &["describe-vpc-endpoint-service-configurations"],
        )
        .unwrap();
    assert_eq!(
        out["ServiceConfigurations"].as_array().unwrap().len(),
        2,
        "the scenario's and the new one"
    );
    assert_eq!(
        api.aws(&["describe-vpc-endpoint-service-configurations"])
            .unwrap()["ServiceConfigurations"],
        Value::Array(vec![])
    );
    api.after("describe configurations", false);

    // The consumer connects to it, as the guide's second create-vpc-endpoint does.
    let out = api
        .aws(&create_endpoint(
            "vpc-ec43eb89",
            &svc_name,
            &[
                "--subnet-id",
                "subnet-abababab",
                "--security-group-id",
                "sg-1a2b3c4d",
            ],
        ))
        .unwrap();
    api.after("create-vpc-endpoint to the provider", true);
    let ep = s(&out["VpcEndpoint"]["VpcEndpointId"]).to_string();
    assert_eq!(out["VpcEndpoint"]["State"], "pendingAcceptance");
    assert_eq!(out["VpcEndpoint"]["PrivateDnsEnabled"], false);
    assert!(
        dns_names(&out["VpcEndpoint"])[0]
            .ends_with(&format!(".{svc_id}.us-east-1.vpce.amazonaws.com"))
    );

    let out = api
        .aws_as(
            PROVIDER_KEY,
            &[
                "describe-vpc-endpoint-connections",
                "--filters",
                &format!("Name=service-id,Values={svc_id}"),
            ],
        )
        .unwrap();
    let conn = &out["VpcEndpointConnections"][0];
    assert_eq!(conn["VpcEndpointId"], ep.as_str());
    assert_eq!(conn["VpcEndpointOwner"], "123456789012");
    assert_eq!(conn["VpcEndpointState"], "pendingAcceptance");
    api.after("describe-vpc-endpoint-connections", false);

    let err = api
        .aws(&[
            "accept-vpc-endpoint-connections",
            "--service-id",
            &svc_id,
            "--vpc-endpoint-ids",
            &ep,
        ])
        .unwrap_err();
    assert_eq!(
        err, "InvalidVpcEndpointServiceId.NotFound",
        "only the provider accepts"
    );
    let out = api
        .aws_as(
            PROVIDER_KEY,
            &[
                "accept-vpc-endpoint-connections",
                "--service-id",
                &svc_id,
                "--vpc-endpoint-ids",
                &ep,
                "vpce-0123456789abcdef0",
            ],
        )
        .unwrap();
    api.after("accept-vpc-endpoint-connections", true);
    assert_eq!(out["Unsuccessful"].as_array().unwrap().len(), 1);
    assert_eq!(
        out["Unsuccessful"][0]["ResourceId"],
        "vpce-0123456789abcdef0"
    );
    api.settle();
    let out = api
        .aws(&["describe-vpc-endpoints", "--vpc-endpoint-ids", &ep])
        .unwrap();
    assert_eq!(out["VpcEndpoints"][0]["State"], "available");

    let err = api
        .aws_as(
            PROVIDER_KEY,
            &[
                "delete-vpc-endpoint-service-configurations",
                "--service-ids",
                &svc_id,
            ],
        )
        .unwrap();
    assert_eq!(
        err["Unsuccessful"][0]["Error"]["Code"],
        "ExistingVpcEndpointConnections"
    );
    let out = api
        .aws_as(
            PROVIDER_KEY,
            &[
                "reject-vpc-endpoint-connections",
                "--service-id",
                &svc_id,
                "--vpc-endpoint-ids",
                &ep,
            ],
        )
        .unwrap();
    assert_eq!(out["Unsuccessful"], Value::Array(vec![]));
    let out = api
        .aws(&["describe-vpc-endpoints", "--vpc-endpoint-ids", &ep])
        .unwrap();
    assert_eq!(out["VpcEndpoints"][0]["State"], "rejected");

    let out = api
        .aws_as(
            PROVIDER_KEY,
            &[
                "modify-vpc-endpoint-service-configuration",
                "--service-id",
                &svc_id,
                "--no-acceptance-required",
                "--private-dns-name",
                "api.payments.example.com",
            ],
        )
        .unwrap();
    assert_eq!(out["Return"], true);
    let out = api
        .aws(&[
            "describe-vpc-endpoint-services",
            "--service-names",
            &svc_name,
        ])
        .unwrap();
    let detail = &out["ServiceDetails"][0];
    assert_eq!(detail["AcceptanceRequired"], false);
    assert_eq!(detail["PrivateDnsName"], "api.payments.example.com");
    assert_eq!(detail["Owner"], "210987654321");

    let out = api
        .aws_as(
            PROVIDER_KEY,
            &[
                "delete-vpc-endpoint-service-configurations",
                "--service-ids",
                &svc_id,
            ],
        )
        .unwrap();
    assert_eq!(out["Unsuccessful"], Value::Array(vec![]));
    api.after("provider changes", true);
    let err = api
        .aws(&[
            "describe-vpc-endpoint-services",
            "--service-names",
            &svc_name,
        ])
        .unwrap_err();
    assert_eq!(err, "InvalidServiceName");
}

#[test]
#[ignore = "needs the AWS CLI: run .ci/run or cargo test -- --include-ignored"]
fn network_describes_attributes_and_tags() {
    let mut api = Api::start();
    let out = api.aws(&["describe-vpcs"]).unwrap();
    assert_eq!(
        out["Vpcs"].as_array().unwrap().len(),
        1,
        "only the caller's VPCs"
    );
    assert_eq!(out["Vpcs"][0]["VpcId"], "vpc-ec43eb89");
    assert_eq!(out["Vpcs"][0]["CidrBlock"], "10.0.0.0/16");
    let out = api
        .aws(&[
            "describe-subnets",
            "--filters",
            "Name=availability-zone,Values=us-east-1a",
        ])
        .unwrap();
    let ids: Vec<&str> = out["Subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(&x["SubnetId"]))
        .collect();
    assert_eq!(ids, ["subnet-abababab", "subnet-cdcdcdcd"]);
    assert_eq!(out["Subnets"][0]["AvailableIpAddressCount"], 251);
    let out = api
        .aws(&["describe-security-groups", "--group-ids", "sg-1a2b3c4d"])
        .unwrap();
    let perm = &out["SecurityGroups"][0]["IpPermissions"][0];
    assert_eq!(perm["IpProtocol"], "6");
    assert_eq!(perm["FromPort"], 443);
    assert_eq!(perm["IpRanges"][0]["CidrIp"], "10.0.0.0/16");
    assert_eq!(
        api.aws(&["describe-security-groups", "--group-ids", "sg-00000000"])
            .unwrap_err(),
        "InvalidGroup.NotFound"
    );
    api.after("describes", false);

    let out = api
        .aws(&[
            "modify-vpc-attribute",
            "--vpc-id",
            "vpc-ec43eb89",
            "--no-enable-dns-hostnames",
        ])
        .unwrap();
    assert_eq!(out, Value::Null);
    api.after("modify-vpc-attribute", true);
    let out = api
        .aws(&[
            "describe-vpc-attribute",
            "--vpc-id",
            "vpc-ec43eb89",
            "--attribute",
            "enableDnsHostnames",
        ])
        .unwrap();
    assert_eq!(out["EnableDnsHostnames"]["Value"], false);
    let err = api
        .aws(&create_endpoint(
            "vpc-ec43eb89",
            ELB,
            &["--subnet-id", "subnet-abababab"],
        ))
        .unwrap_err();
    assert_eq!(err, "InvalidParameter", "private DNS needs dnsHostnames");
    api.after("refused create", false);

    let out = api
        .aws(&create_endpoint(
            "vpc-ec43eb89",
            ELB,
            &[
                "--subnet-id",
                "subnet-abababab",
                "subnet-aabb1122",
                "--no-private-dns-enabled",
            ],
        ))
        .unwrap();
    let ep = s(&out["VpcEndpoint"]["VpcEndpointId"]).to_string();
    let out = api
        .aws(&[
            "describe-network-interfaces",
            "--filters",
            "Name=vpc-id,Values=vpc-ec43eb89",
        ])
        .unwrap();
    let enis = out["NetworkInterfaces"].as_array().unwrap();
    assert_eq!(enis.len(), 2);
    assert_eq!(enis[0]["InterfaceType"], "vpc_endpoint");
    assert_eq!(enis[0]["RequesterManaged"], true);
    assert_eq!(
        enis[0]["Description"],
        format!("VPC Endpoint Interface {ep}")
    );
    assert_eq!(enis[1]["SubnetId"], "subnet-aabb1122");
    assert!(s(&enis[1]["PrivateIpAddress"]).starts_with("10.0.2."));

    api.aws(&[
        "create-tags",
        "--resources",
        &ep,
        "vpc-ec43eb89",
        "--tags",
        "Key=team,Value=net",
    ])
    .unwrap();
    api.after("create-tags", true);
    let out = api
        .aws(&[
            "describe-vpc-endpoints",
            "--filters",
            "Name=tag:team,Values=net",
        ])
        .unwrap();
    assert_eq!(out["VpcEndpoints"].as_array().unwrap().len(), 1);
    let out = api
        .aws(&["describe-vpcs", "--filters", "Name=tag-key,Values=team"])
        .unwrap();
    assert_eq!(out["Vpcs"].as_array().unwrap().len(), 1);
    api.aws(&["delete-tags", "--resources", &ep, "--tags", "Key=team"])
        .unwrap();
    api.after("delete-tags", true);
    let out = api
        .aws(&[
            "describe-vpc-endpoints",
            "--filters",
            "Name=tag:team,Values=net",
        ])
        .unwrap();
    assert_eq!(out["VpcEndpoints"], Value::Array(vec![]));
    assert_eq!(
        api.aws_as(
            PROVIDER_KEY,
            &["create-tags", "--resources", &ep, "--tags", "Key=a,Value=b"]
        )
        .unwrap_err(),
        "InvalidVpcEndpointId.NotFound"
    );
    api.after("reads", false);
}

mod hardening;
