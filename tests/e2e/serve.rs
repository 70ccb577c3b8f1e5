//! The real `vpcesim serve` with `--forward` and `--flow-log --flow-log-reasons`: bytes
//! through an allowed flow, a flow that a security group drops held silent, both in the
//! flow log, a SIGHUP reload that opens the port, and SIGTERM with a flow still held;
//! and curl, a real HTTP client, through it to a real HTTP backend on loopback.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::{ServeProcess, free_port};

/// The endpoint's regional name (fixed by its `id` and `dns_suffix` and the service's `id`).
const NAME: &str =
    "vpce-0fe5b17a0707d6abc-serve001.vpce-svc-0a1b2c3d4e5f60718.us-east-1.vpce.amazonaws.com";

/// The end of a flow log record (with reasons) of a flow that the endpoint's security
/// group drops.
const ENDPOINT_SG_REJECT: [&str; 7] = [
    "REJECT",
    "OK",
    "security_group",
    "ingress",
    "endpoint-sg",
    "-",
    "-",
];

/// One consumer instance, one endpoint to an echo service on 443, 8443 and 9000; the
/// endpoint's group lets in the ports of `open`.
fn topology(open: &[u16]) -> String {
    topology_with(open, "echo")
}

/// [`topology`] with the service's `backend` given.
fn topology_with(open: &[u16], backend: &str) -> String {
    let rules: Vec<String> = open
        .iter()
        .map(|port| format!(r#"{{ proto = "tcp", ports = {port}, sg = "web" }}"#))
        .collect();
    let rules = rules.join(", ");
    format!(
        r#"
name = "serve-e2e"

[accounts.consumer]
id = "123456789012"

[vpcs.main]
account = "consumer"
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
ingress = [ {rules} ]

[instances.web-1]
subnet = "app"
ip = "10.0.1.10"
security_groups = ["web"]

[services.app]
account = "consumer"
id = "vpce-svc-0a1b2c3d4e5f60718"
az_ids = ["use1-az1"]
ports = [443, 8443, 9000]
backend = "{backend}"

[endpoints.app]
vpc = "main"
service = "app"
id = "vpce-0fe5b17a0707d6abc"
dns_suffix = "serve001"
subnets = ["ep"]
security_groups = ["endpoint-sg"]
"#
    )
}

/// The endpoint's ENI (ID, address) as the scenario loader allocates it.
fn eni(path: &Path, text: &str) -> (String, Ipv4Addr) {
    let scenario = vpcesim::scenario::parse(path, text).expect("the topology loads");
    let topology = scenario.control.topology();
    let endpoint = &topology.endpoints["app"];
    let eni = &topology.enis[&endpoint.enis[0]];
    (eni.id.clone(), eni.ip)
}

/// Waits (at most `wait`) for a flow log line with all of `parts`; returns its fields.
fn flow_line(log: &Path, parts: &[&str], wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| parts.iter().all(|p| l.split(' ').any(|f| f == *p)))
        {
            return line.split(' ').map(str::to_string).collect();
        }
        assert!(
            Instant::now() < deadline,
            "no flow log line with {parts:?} within {wait:?}; the log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A connection to a forwarder, with bounded reads.
fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("the forwarder accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a read timeout");
    stream
}

/// Sends `payload`, reads it back, half-closes and reads the service's close.
fn echo_through(port: u16, payload: &[u8]) {
    let mut stream = connect(port);
    stream.write_all(payload).expect("send");
    let mut back = vec![0u8; payload.len()];
    stream.read_exact(&mut back).expect("the echo comes back");
    assert_eq!(back, payload);
    stream.shutdown(Shutdown::Write).expect("half-close");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("the close comes back");
    assert!(rest.is_empty(), "{rest:?}");
}

/// Writes to a dropped flow: nothing comes back, the read times out after ~`wait`.
fn held_silent(stream: &mut TcpStream, wait: Duration) {
    stream.set_read_timeout(Some(wait)).expect("a read timeout");
    stream
        .write_all(b"anyone there?")
        .expect("the kernel takes the bytes");
    let started = Instant::now();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a dropped flow must stay silent, the read gave {other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= wait.mul_f32(0.9) && waited < wait * 3,
        "timed out after {waited:?}"
    );
}

#[test]
fn forward_flow_log_reload_and_stop() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("topology.toml");
    let flows = dir.path().join("flows.log");
    let closed = topology(&[443]);
    std::fs::write(&file, &closed).expect("write the topology");
    let (eni_id, eni_ip) = eni(&file, &closed);
    let (open_port, shut_port, held_port) = (free_port(), free_port(), free_port());
    let forward =
        |port: u16, service_port: u16| format!("127.0.0.1:{port}=web-1@{NAME}:{service_port}");
    let args = [
        file.to_str().expect("a UTF-8 path").to_string(),
        "--forward".into(),
        forward(open_port, 443),
        "--forward".into(),
        forward(shut_port, 8443),
        "--forward".into(),
        forward(held_port, 9000),
        "--flow-log".into(),
        flows.to_str().expect("a UTF-8 path").into(),
        "--flow-log-reasons".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let serve = ServeProcess::start(&args, &[]);
    serve.wait_for_log_n("forwarding TCP", 3, Duration::from_secs(20));

    // Allowed: the bytes come back through the echo service, then one ACCEPT record
    // (within 1 s of the flow's end) with both directions summed and empty reasons.
    let payload = b"through vpcesim serve --forward";
    let before = unix_now();
    echo_through(open_port, payload);
    let accept = flow_line(&flows, &["ACCEPT", "443"], Duration::from_millis(1500));
    let n = payload.len() as u64;
    let expected_head = [
        "2",
        "123456789012",
        &eni_id,
        "10.0.1.10",
        &eni_ip.to_string(),
    ];
    assert_eq!(accept.len(), 14 + 5, "{accept:?}");
    assert_eq!(accept[..5], expected_head, "{accept:?}");
    let src_port: u16 = accept[5].parse().expect("a port");
    assert!((32768..=60999).contains(&src_port), "{accept:?}");
    assert_eq!(accept[6..9], ["443", "6", "6"], "{accept:?}"); // 1 segment each way + 4
    assert_eq!(accept[9], (2 * n + 52 * 6).to_string(), "{accept:?}");
    let (start, end): (u64, u64) = (
        accept[10].parse().expect("unix seconds"),
        accept[11].parse().expect("unix seconds"),
    );
    assert!(
        before <= start && start <= end && end <= unix_now(),
        "{accept:?}"
    );
    assert_eq!(accept[12..], ["ACCEPT", "OK", "-", "-", "-", "-", "-"]);

    // Blocked by the endpoint's security group: accepted by the kernel, then silent;
    // one REJECT record (one 60-byte SYN) with the reason.
    let mut dropped = connect(shut_port);
    held_silent(&mut dropped, Duration::from_secs(1));
    let reject = flow_line(&flows, &["REJECT", "8443"], Duration::from_millis(500));
    assert_eq!(reject[..5], expected_head, "{reject:?}");
    assert_eq!(reject[6..10], ["8443", "6", "1", "60"], "{reject:?}");
    assert_eq!(reject[12..], ENDPOINT_SG_REJECT, "{reject:?}");

    // Open 8443 in the file and SIGHUP: a new connection is forwarded.
    std::fs::write(&file, topology(&[443, 8443])).expect("rewrite the topology");
    serve.signal(libc::SIGHUP);
    serve.wait_for_log("reloaded the topology", Duration::from_secs(5));
    echo_through(shut_port, b"open after the reload");
    flow_line(&flows, &["ACCEPT", "8443"], Duration::from_millis(1500));

    // 9000 is still closed: hold one such flow, then SIGTERM stops the server cleanly.
    let mut held = connect(held_port);
    held_silent(&mut held, Duration::from_millis(300));
    flow_line(&flows, &["REJECT", "9000"], Duration::from_millis(1500));
    serve.signal(libc::SIGTERM);
    let status = serve.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}:\n{}", serve.log());
    assert!(serve.log_count("stopped") >= 1, "{}", serve.log());
    // The held client now sees the connection end instead of silence.
    held.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("a read timeout");
    let mut buf = [0u8; 16];
    match held.read(&mut buf) {
        Ok(0) => {}
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {}
        other => panic!("the held flow must end with the server, the read gave {other:?}"),
    }
}

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

/// Runs curl on `url` with a time limit; returns its exit code and what it printed.
fn curl(url: &str, max_time: &str) -> (i32, String) {
    let out = Command::new(crate::support::curl_program())
        .args(["--silent", "--show-error", "--max-time", max_time, url])
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
#[ignore = "needs curl: run .ci/run or cargo test -- --include-ignored"]
fn curl_through_an_allowed_and_a_dropped_flow() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("topology.toml");
    let flows = dir.path().join("flows.log");
    let text = topology_with(&[443], &http_backend().to_string());
    std::fs::write(&file, text).expect("write the topology");
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
    flow_line(
        &flows,
        &["10.0.1.10", "443", "ACCEPT"],
        Duration::from_secs(2),
    );

    // Dropped (8443 is not open): curl's connect succeeds, its request is never answered,
    // and it gives up at its own limit, as against a real endpoint.
    let started = Instant::now();
    let (code, body) = curl(&format!("http://127.0.0.1:{shut_port}/"), "1");
    assert_eq!(code, 28, "curl must time out, not get {body:?}");
    assert!(body.is_empty(), "{body:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    let reject = flow_line(&flows, &["8443", "REJECT"], Duration::from_secs(2));
    assert_eq!(reject[12..], ENDPOINT_SG_REJECT, "{reject:?}");
}

/// `serve FILE --forward` on a fresh port to `service_port`, with `extra` flags; the
/// forwarder's port and the process.
fn serve_forwarding(
    file: &Path,
    service_port: u16,
    extra: &[&str],
    ready: &[&str],
) -> (u16, ServeProcess) {
    let port = free_port();
    let mut args = vec![
        file.to_str().expect("a UTF-8 path").to_string(),
        "--forward".into(),
        format!("127.0.0.1:{port}=web-1@{NAME}:{service_port}"),
    ];
    args.extend(extra.iter().map(|a| (*a).to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let serve = ServeProcess::start(&args, ready);
    serve.wait_for_log("forwarding TCP", Duration::from_secs(20));
    (port, serve)
}

/// Whether the server ends `stream` (a close or a reset) within `wait`.
fn ends_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).expect("a read timeout");
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return true;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(e) => panic!("reading: {e}"),
        }
    }
}

#[test]
fn sigterm_ends_live_flows_with_a_flow_log_record_each_and_exits_0() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("topology.toml");
    let flows = dir.path().join("flows.log");
    std::fs::write(&file, topology(&[443])).expect("write the topology");
    let log_arg = flows.to_str().expect("a UTF-8 path");
    let (port, serve) = serve_forwarding(&file, 443, &["--flow-log", log_arg], &[]);
    // 150 flows that end, then 51 still open (their echo came back) at SIGTERM.
    for i in 0..150 {
        echo_through(port, format!("flow {i}").as_bytes());
    }
    let mut live = Vec::new();
    for i in 0..51 {
        let mut stream = connect(port);
        let payload = format!("live {i}");
        stream.write_all(payload.as_bytes()).expect("send");
        let mut back = vec![0u8; payload.len()];
        stream.read_exact(&mut back).expect("the echo comes back");
        live.push(stream);
    }
    serve.signal(libc::SIGTERM);
    let status = serve.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}:\n{}", serve.log());
    let text = std::fs::read_to_string(&flows).expect("the flow log");
    let records: Vec<&str> = text.lines().collect();
    assert_eq!(records.len(), 201, "one record per flow:\n{text}");
    assert!(records.iter().all(|l| l.ends_with(" ACCEPT OK")), "{text}");
    // The live flows' records count their bytes (1 segment each way + 4 packets).
    let live_bytes = records
        .iter()
        .filter(|l| l.split(' ').nth(9) == Some(&(2 * 7 + 52 * 6).to_string()))
        .count();
    assert!(live_bytes >= 10, "{text}");
    for stream in &mut live {
        assert!(
            ends_within(stream, Duration::from_secs(2)),
            "a live flow ends"
        );
    }
}

#[test]
fn a_reload_from_a_fifo_times_out_serve_keeps_serving_and_still_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("topology.toml");
    std::fs::write(&file, topology(&[443])).expect("write the topology");
    let (port, serve) = serve_forwarding(&file, 443, &["--reload-timeout", "1s"], &[]);
    echo_through(port, b"before");
    // The topology becomes a FIFO that nobody writes: opening it blocks for ever.
    std::fs::remove_file(&file).expect("remove the file");
    let path = std::ffi::CString::new(file.to_str().expect("UTF-8")).expect("no NUL");
    // SAFETY: mkfifo reads a NUL-terminated path and creates a file; no memory is shared.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    let started = Instant::now();
    serve.signal(libc::SIGHUP);
    serve.wait_for_log("took longer than 1s", Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(serve.log_count("reload failed") >= 1, "{}", serve.log());
    echo_through(port, b"still serving");
    // Another reload hangs on the FIFO the same way; SIGTERM meanwhile still stops.
    serve.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(100));
    serve.signal(libc::SIGTERM);
    let status = serve.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "{status}:\n{}", serve.log());
}

#[test]
fn a_listener_at_max_connections_refuses_new_ones_and_logs_it() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("topology.toml");
    std::fs::write(&file, topology(&[443])).expect("write the topology");
    // 9000 is closed: connections are held, so they stay open and count.
    let (port, serve) = serve_forwarding(&file, 9000, &["--max-connections", "2"], &[]);
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect(port)).collect();
    for stream in &mut held {
        held_silent(stream, Duration::from_millis(300));
    }
    let mut third = connect(port);
    let started = Instant::now();
    assert!(ends_within(&mut third, Duration::from_secs(2)), "refused");
    assert!(started.elapsed() < Duration::from_secs(1));
    serve.wait_for_log(
        "connection refused: the listener has 2 connections open",
        Duration::from_secs(2),
    );
    // One closes (with data it sent still unread); a new one is taken (and held) again.
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(200));
    let mut again = connect(port);
    held_silent(&mut again, Duration::from_millis(300));
}

#[test]
fn dropped_flows_are_logged_at_the_default_level_rate_limited_with_a_summary() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("topology.toml");
    std::fs::write(&file, topology(&[443])).expect("write the topology");
    let (port, serve) = serve_forwarding(&file, 9000, &["--drop-log-rate", "3"], &[]);
    // Twelve dropped flows in quick succession; each is held until its client closes.
    let mut streams = Vec::new();
    for _ in 0..12 {
        streams.push(connect(port));
    }
    // Every flow is accounted for: logged one by one with its blocking rule, or counted
    // in a summary line once its second is over.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = serve.log();
        let shown: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("flow dropped:"))
            .collect();
        let summaries: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("more flows dropped, not logged one by one"))
            .collect();
        let summed: usize = summaries
            .iter()
            .filter_map(|l| {
                l.split("count=")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .sum();
        if shown.len() + summed == 12 {
            assert!(shown.len() <= 6, "at most 3 a second:\n{log}");
            // One summary per second that had too many, not one per flow held back.
            assert!(summaries.len() <= 2, "one summary a second:\n{log}");
            assert!(summed > 0, "the rest summed up:\n{log}");
            for line in shown {
                assert!(
                    line.contains("security group endpoint-sg ingress")
                        && line.contains("blocked_by=security_group")
                        && line.contains("port=9000"),
                    "{line}"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "12 dropped flows not all accounted for:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(streams);
}
