//! curl, a real HTTP client, through the real `vpcesim serve --forward` to a real HTTP
//! backend on loopback: an allowed request is answered, a dropped one times out (as it
//! would in AWS, curl's exit code 28), and both are in the flow log.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{ServeProcess, free_port};

/// The endpoint's regional name (fixed by its `id` and `dns_suffix` and the service's `id`).
const NAME: &str =
    "vpce-0c0c0c0c0c0c0c0c1-curl0001.vpce-svc-0d0d0d0d0d0d0d0d1.us-east-1.vpce.amazonaws.com";

/// An HTTP/1.1 server that answers every request with the path it asked for and the
/// address the connection came from, then closes.
fn http_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let peer = stream.peer_addr().map(|a| a.ip().to_string());
            let mut request_line = String::new();
            let mut reader = BufReader::new(&mut stream);
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // The rest of the head, up to the empty line.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split(' ').nth(1).unwrap_or("?").to_string();
            let body = format!("path={path} from={}\n", peer.unwrap_or_default());
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn topology(backend: SocketAddr) -> String {
    format!(
        r#"
name = "curl-e2e"

[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true

[subnets.app]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"

[subnets.ep]
vpc = "main"
cidr = "10.0.10.0/24"
az = "us-east-1a"

[security_groups.web]
vpc = "main"

[security_groups.endpoint-sg]
vpc = "main"
ingress = [ {{ proto = "tcp", ports = 443, sg = "web" }} ]

[instances.web-1]
subnet = "app"
ip = "10.0.1.10"
security_groups = ["web"]

[services.shop]
id = "vpce-svc-0d0d0d0d0d0d0d0d1"
az_ids = ["use1-az1"]
ports = [443, 8443]
backend = "{backend}"

[endpoints.shop]
vpc = "main"
service = "shop"
id = "vpce-0c0c0c0c0c0c0c0c1"
dns_suffix = "curl0001"
subnets = ["ep"]
security_groups = ["endpoint-sg"]
"#
    )
}

/// Runs curl on `url` with a time limit; returns its exit code and what it printed.
fn curl(url: &str, max_time: &str) -> (i32, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", max_time, url])
        .output()
        .expect("curl runs (.ci/run installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Waits (at most 2 s) for a flow log line with all of `parts`.
fn flow_line(log: &Path, parts: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| parts.iter().all(|p| l.split(' ').any(|f| f == *p)))
        {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no line with {parts:?}:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn curl_through_an_allowed_and_a_dropped_flow() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("topology.toml");
    let flows = dir.path().join("flows.log");
    std::fs::write(&file, topology(http_backend())).expect("write the topology");
    let (open_port, shut_port) = (free_port(), free_port());
    let args = [
        file.to_str().expect("a UTF-8 path").to_string(),
        "--forward".into(),
        format!("127.0.0.1:{open_port}=web-1@{NAME}:443"),
        "--forward".into(),
        format!("127.0.0.1:{shut_port}=web-1@{NAME}:8443"),
        "--flow-log".into(),
        flows.to_str().expect("a UTF-8 path").into(),
        "--flow-log-reasons".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let serve = ServeProcess::start(&args, &[]);
    serve.wait_for_log_n("forwarding TCP", 2, Duration::from_secs(20));

    // Allowed (443 is open to `web`): the backend answers, and saw the connection come
    // from one of the forwarder's loopback source addresses.
    for i in 1..=3 {
        let (code, body) = curl(&format!("http://127.0.0.1:{open_port}/orders/{i}"), "5");
        assert_eq!(code, 0, "curl failed: {body}");
        let want = format!("path=/orders/{i} from=127.1.0.");
        assert!(body.starts_with(&want), "{body:?}");
    }
    flow_line(&flows, &["10.0.1.10", "443", "ACCEPT"]);

    // Dropped (8443 is not open): curl's connect succeeds, its request is never answered,
    // and it gives up at its own limit, as against a real endpoint.
    let started = Instant::now();
    let (code, body) = curl(&format!("http://127.0.0.1:{shut_port}/"), "1");
    assert_eq!(code, 28, "curl must time out, not get {body:?}");
    assert!(body.is_empty(), "{body:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    let reject = flow_line(&flows, &["8443", "REJECT"]);
    assert!(
        reject.ends_with("REJECT OK security_group ingress endpoint-sg - -"),
        "{reject}"
    );
}
