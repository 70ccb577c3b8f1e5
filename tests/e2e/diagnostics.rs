//! What the real binary tells its user: bind errors that name the flag and the address,
//! `--help` with examples and the log variable, `zone` listing what it wrote, and
//! `serve`'s log at the default level: one line per API change, one per reload with
//! what changed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{ServeProcess, free_port};

/// The repository's example topology (the README's).
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/topology.toml")
}

fn vpcesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vpcesim"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run vpcesim")
}

/// `serve ARGS` with a port already taken must exit 1 at once and say `want` on stderr.
fn serve_refuses(args: &[&str], want: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_vpcesim"))
        .arg("serve")
        .arg(example())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run vpcesim serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(want), "want `{want}` in:\n{stderr}");
    assert!(stderr.contains("Address already in use"), "{stderr}");
}

#[test]
fn bind_errors_name_the_flag_and_the_address() {
    // A port the kernel picks and this test holds: nobody else can take it meanwhile.
    let taken = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let addr = taken.local_addr().expect("its address").to_string();
    serve_refuses(
        &["--dns", &format!("main={addr}")],
        &format!("error: --dns main={addr}: cannot bind UDP and TCP on {addr}: "),
    );
    // The second of two listeners is the one named.
    let other = "127.0.0.1:0".to_string();
    serve_refuses(
        &["--dns", &other, "--dns", &addr],
        &format!("error: --dns {addr}: cannot bind UDP and TCP on {addr}: "),
    );
    serve_refuses(
        &["--api", &addr],
        &format!("error: --api {addr}: cannot bind TCP on {addr}: "),
    );
    let forward = format!("{addr}=web-1@kinesis.us-east-1.amazonaws.com:443");
    serve_refuses(
        &["--forward", &forward],
        &format!("error: --forward {forward}: cannot bind TCP on {addr}: "),
    );
}

#[test]
fn every_subcommand_help_has_examples_and_the_log_variable() {
    for command in ["check", "services", "describe", "run", "serve", "zone"] {
        let out = vpcesim(&[command, "--help"]);
        assert!(out.status.success(), "{command} --help");
        let help = String::from_utf8_lossy(&out.stdout);
        let examples = help
            .split_once("Examples:")
            .unwrap_or_else(|| panic!("{command} --help has no examples:\n{help}"))
            .1;
        let lines = examples
            .lines()
            .map(str::trim)
            .filter(|l| l.split_whitespace().take(2).eq(["vpcesim", command]))
            .count();
        assert!(
            (2..=3).contains(&lines),
            "{command} --help: {lines} examples:\n{help}"
        );
        assert!(
            help.contains("RUST_LOG") && help.contains("error, warn, info, debug, trace"),
            "{command} --help names RUST_LOG and its levels:\n{help}"
        );
    }
}

#[test]
fn zone_lists_every_file_it_wrote() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = vpcesim(&[
        "zone",
        example().to_str().expect("UTF-8"),
        "--vpc",
        "main",
        "--out",
        dir.path().to_str().expect("UTF-8"),
    ]);
    assert!(out.status.success(), "{out:?}");
    let mut printed: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    printed.sort();
    let mut written: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("read the zone dir")
        .map(|e| e.expect("an entry").path())
        .collect();
    written.sort();
    assert!(written.len() > 1, "{written:?}");
    assert_eq!(printed, written);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "wrote {} zone files of VPC main's view to {}",
            written.len(),
            dir.path().display()
        )),
        "{stderr}"
    );
}

/// A form POST to the API as the README's account; returns the HTTP status and body.
fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
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

/// The text of the first `<tag>` element of `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find('<').expect("a closing tag") + start;
    &xml[start..end]
}

#[test]
fn serve_logs_each_api_change_in_one_line() {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
    let file = example();
    let serve = ServeProcess::start(
        &[file.to_str().expect("UTF-8"), "--api", &addr.to_string()],
        &["serving the EC2 API"],
    );
    // A read changes nothing and logs nothing.
    let (status, _) = post(addr, "Action=DescribeVpcEndpoints&Version=2016-11-15");
    assert_eq!(status, 200);
    let (status, body) = post(
        addr,
        "Action=CreateVpcEndpoint&Version=2016-11-15&VpcId=vpc-ec43eb89&VpcEndpointType=Interface\
         &ServiceName=com.amazonaws.us-east-1.elasticloadbalancing&SubnetId.1=subnet-abababab\
         &SecurityGroupId.1=sg-1a2b3c4d",
    );
    assert_eq!(status, 200, "{body}");
    let id = element(&body, "vpcEndpointId").to_string();
    serve.wait_for_log("API change", Duration::from_secs(5));
    let (status, body) = post(
        addr,
        &format!("Action=DeleteVpcEndpoints&Version=2016-11-15&VpcEndpointId.1={id}"),
    );
    assert_eq!(status, 200, "{body}");
    serve.wait_for_log_n("API change", 2, Duration::from_secs(5));
    // A refused call changes nothing and logs no change.
    let (status, _) = post(
        addr,
        "Action=CreateVpcEndpoint&Version=2016-11-15&VpcId=vpc-00000000&VpcEndpointType=Interface\
         &ServiceName=com.amazonaws.us-east-1.sqs&SubnetId.1=subnet-abababab",
    );
    assert_eq!(status, 400);
    std::thread::sleep(Duration::from_millis(300));
    let log = serve.log();
    let changes: Vec<&str> = log.lines().filter(|l| l.contains("API change")).collect();
    assert_eq!(changes.len(), 2, "{log}");
    for (line, action) in changes
        .iter()
        .zip(["CreateVpcEndpoint", "DeleteVpcEndpoints"])
    {
        assert!(line.contains(" INFO "), "at the default level: {line}");
        assert!(
            line.contains(&format!("action=\"{action}\""))
                || line.contains(&format!("action={action}")),
            "{line}"
        );
        assert!(line.contains("consumer (123456789012)"), "{line}");
        assert!(line.contains(&id), "{line}");
    }
    assert!(changes[0].contains("vpc-ec43eb89"), "{}", changes[0]);
    assert!(changes[0].contains("subnet-abababab"), "{}", changes[0]);
    assert!(changes[0].contains("sg-1a2b3c4d"), "{}", changes[0]);
}

#[test]
fn serve_logs_each_reload_with_what_changed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("topology.toml");
    let text = std::fs::read_to_string(example()).expect("read the example");
    std::fs::write(&file, &text).expect("write the topology");
    let dns = format!("127.0.0.1:{}", free_port());
    let serve = ServeProcess::start(
        &[
            file.to_str().expect("UTF-8"),
            "--dns",
            &format!("main={dns}"),
        ],
        &["serving DNS"],
    );
    // The same file again: nothing changed.
    serve.signal(libc::SIGHUP);
    serve.wait_for_log("reloaded the topology", Duration::from_secs(10));
    // One more endpoint, one security group's rule changed.
    let changed = text.replace("ports = 443,", "ports = 8443,")
        + "\n[endpoints.sqs]\nvpc = \"main\"\nservice = \"com.amazonaws.us-east-1.sqs\"\n\
           subnets = [\"app-a\"]\nsecurity_groups = [\"endpoints\"]\n";
    assert_ne!(changed, text);
    std::fs::write(&file, changed).expect("rewrite the topology");
    serve.signal(libc::SIGHUP);
    serve.wait_for_log_n("reloaded the topology", 2, Duration::from_secs(10));
    let log = serve.log();
    let reloads: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("reloaded the topology"))
        .collect();
    assert!(reloads[0].contains("no changes"), "{}", reloads[0]);
    assert!(reloads[1].contains(" INFO "), "{}", reloads[1]);
    assert!(
        reloads[1].contains("security_groups +0 -0 ~1"),
        "{}",
        reloads[1]
    );
    assert!(reloads[1].contains("endpoints +1 -0 ~0"), "{}", reloads[1]);
    assert!(reloads[1].contains("enis +1 -0 ~0"), "{}", reloads[1]);
    assert!(!reloads[1].contains("vpcs"), "{}", reloads[1]);
}
