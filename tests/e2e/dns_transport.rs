//! The transports of the DNS server: the same malformed bytes over UDP and TCP get the
//! same answer (or none on both), a datagram longer than any query is not read as a
//! shorter one, and TCP keeps answering, without spinning, when descriptors run out.

use std::net::SocketAddr;
use std::time::Duration;

use vpcesim::dns::ViewId;

use crate::support::{TestDns, load, udp_raw};

const FIXTURE: &str = "dns.toml";

/// One framed message over a fresh TCP connection; the answer, or none within `wait`.
async fn tcp_maybe(addr: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.unwrap();
    let read = async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.ok()?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.ok()?;
        Some(buf)
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

/// A query for `name`, type `rtype`, class `class`, ID 0x4242, RD set.
fn query(name: &str, rtype: u16, class: u16) -> Vec<u8> {
    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&class.to_be_bytes());
    q
}

fn opt(version: u8) -> Vec<u8> {
    vec![0, 0, 41, 4, 0xd0, 0, version, 0x80, 0, 0, 0]
}

/// Every malformed or odd query, by name.
fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let good = query("kinesis.us-east-1.amazonaws.com", 1, 1);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut q = good.clone();
        f(&mut q);
        q
    };
    let mut cases: Vec<(&'static str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("three bytes", vec![1, 2, 3]),
        ("header only", good[..12].to_vec()),
        ("a response", with(&|q| q[2] |= 0x80)),
        ("cut name", good[..good.len() - 8].to_vec()),
        ("no type and class", good[..good.len() - 4].to_vec()),
        ("qdcount 0", with(&|q| q[5] = 0)),
        ("qdcount 2", with(&|q| q[5] = 2)),
        ("an answer record claimed", with(&|q| q[7] = 1)),
        ("an authority record claimed", with(&|q| q[9] = 1)),
        (
            "an additional record claimed, none there",
            with(&|q| q[11] = 1),
        ),
        (
            "trailing garbage",
            with(&|q| q.extend_from_slice(&[0xde, 0xad])),
        ),
        (
            "pointer in the question",
            with(&|q| {
                q.truncate(12);
                q.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
            }),
        ),
        (
            "label of 64",
            with(&|q| {
                q.truncate(12);
                q.push(64);
                q.extend_from_slice(&[b'a'; 64]);
                q.extend_from_slice(&[0, 0, 1, 0, 1]);
            }),
        ),
        ("NOTIFY", with(&|q| q[2] = 0x20)),
        ("opcode 15", with(&|q| q[2] = 0x78)),
        ("class CH", query("version.bind", 16, 3)),
        ("class 0", query("kinesis.us-east-1.amazonaws.com", 1, 0)),
        ("qtype OPT", query("kinesis.us-east-1.amazonaws.com", 41, 1)),
        ("AXFR", query("us-east-1.vpce.amazonaws.com", 252, 1)),
        ("IXFR", query("us-east-1.vpce.amazonaws.com", 251, 1)),
        ("type 0", query("kinesis.us-east-1.amazonaws.com", 0, 1)),
        ("ANY", query("kinesis.us-east-1.amazonaws.com", 255, 1)),
        (
            "EDNS version 1",
            with(&|q| {
                q[11] = 1;
                q.extend_from_slice(&opt(1));
            }),
        ),
        (
            "two OPT",
            with(&|q| {
                q[11] = 2;
                q.extend_from_slice(&opt(0));
                q.extend_from_slice(&opt(0));
            }),
        ),
        (
            "OPT not at the root",
            with(&|q| {
                q[11] = 1;
                q.extend_from_slice(&[1, b'x']);
                q.extend_from_slice(&opt(0)[1..]);
            }),
        ),
        (
            "OPT cut short",
            with(&|q| {
                q[11] = 1;
                q.extend_from_slice(&opt(0)[..6]);
            }),
        ),
        ("name outside every zone", query("example.org", 1, 1)),
        ("root SOA", query("", 6, 1)),
    ];
    // Longer than any query: cut by the UDP receive buffer, read whole over TCP.
    let mut long = good.clone();
    long.resize(vpcesim::dns::MAX_QUERY + 900, 0);
    cases.push(("longer than any query", long));
    let mut exact = good;
    exact.resize(vpcesim::dns::MAX_QUERY, 0);
    cases.push(("exactly the longest query", exact));
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_and_tcp_answer_malformed_queries_alike() {
    let control = load(FIXTURE);
    let dns = TestDns::start(&control, &[ViewId::Public], None).await;
    let addr = dns.addr(&ViewId::Public);
    let wait = Duration::from_millis(400);
    let mut differ = Vec::new();
    for (name, bytes) in cases() {
        let udp = udp_raw(addr, &bytes, wait).await;
        let tcp = tcp_maybe(addr, &bytes, wait).await;
        if udp != tcp {
            differ.push(format!("{name}: UDP {udp:02x?}\n    TCP {tcp:02x?}"));
        }
    }
    assert!(differ.is_empty(), "answers differ:\n{}", differ.join("\n"));
    dns.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datagram_longer_than_any_query_gets_formerr_not_an_answer() {
    let control = load(FIXTURE);
    let dns = TestDns::start(&control, &[ViewId::Public], None).await;
    let addr = dns.addr(&ViewId::Public);
    // A good question, then padding past the receive buffer: the kernel cuts it, and
    // what is left would parse as a good query if the cut went unnoticed.
    let mut long = query("kinesis.us-east-1.amazonaws.com", 1, 1);
    long.resize(vpcesim::dns::MAX_QUERY + 100, 0);
    let reply = udp_raw(addr, &long, Duration::from_secs(2))
        .await
        .expect("an answer");
    assert_eq!(&reply[..2], &[0x42, 0x42], "ID echoed");
    assert_eq!(reply[3] & 0x0f, 1, "FORMERR: {reply:02x?}");
    assert_eq!(reply.len(), 12, "header only");
    // The same query at the limit is answered.
    let mut at_limit = query("kinesis.us-east-1.amazonaws.com", 1, 1);
    at_limit.resize(vpcesim::dns::MAX_QUERY, 0);
    let reply = udp_raw(addr, &at_limit, Duration::from_secs(2))
        .await
        .expect("an answer");
    assert_eq!(reply[3] & 0x0f, 0, "NOERROR: {reply:02x?}");
    dns.server.shutdown().await;
}

/// CPU seconds (user + system) process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
        .split(' ')
        .collect();
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_backs_off_when_descriptors_run_out_and_answers_again() {
    use std::os::unix::process::CommandExt;
    let port = crate::support::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_vpcesim"));
    command
        .arg("serve")
        .arg(crate::support::fixture(FIXTURE))
        .args(["--dns", &format!("main={addr}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; the child only lowers its own limit.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = Kill(command.spawn().expect("vpcesim serve starts"));
    let pid = child.0.id();
    let probe = query("kinesis.us-east-1.amazonaws.com", 1, 1);
    let mut up = false;
    for _ in 0..200 {
        if udp_raw(addr, &probe, Duration::from_millis(100))
            .await
            .is_some()
        {
            up = true;
            break;
        }
    }
    assert!(up, "serve answers within 20 s");
    // More connections than descriptors: the accept loop meets EMFILE.
    let mut held = Vec::new();
    for _ in 0..120 {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = cpu_seconds(pid) - before;
    assert!(
        used < 0.3,
        "{used:.2} s of CPU in 1 s with descriptors gone: spinning"
    );
    // UDP answers meanwhile.
    assert!(
        udp_raw(addr, &probe, Duration::from_secs(2))
            .await
            .is_some()
    );
    // Once the connections close, TCP answers again within 2 s.
    drop(held);
    let answer = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Some(answer) = tcp_maybe(addr, &probe, Duration::from_millis(500)).await {
                return answer;
            }
        }
    })
    .await
    .expect("TCP answers again");
    assert_eq!(answer[3] & 0x0f, 0, "NOERROR: {answer:02x?}");
}
