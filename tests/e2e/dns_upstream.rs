//! `serve --upstream` against a resolver that is not on loopback: a tiny responder in
//! a network namespace this test creates, reached over a veth pair whose addresses
//! live in namespaces only (the real binary runs in one, the responder in the other).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The address the upstream's answer carries, so the test knows where it came from.
const ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth pair; deleted (with the pair) when dropped.
struct Namespaces {
    client: String,
    resolver: String,
}

impl Namespaces {
    /// `client` holds 10.253.0.1/30, `resolver` 10.253.0.2/30.
    fn create() -> Self {
        let id = std::process::id();
        let ns = Self {
            client: format!("vpcesim-c{id}"),
            resolver: format!("vpcesim-r{id}"),
        };
        ip(&["netns", "add", &ns.client]);
        ip(&["netns", "add", &ns.resolver]);
        let (a, b) = (format!("vpc{id}a"), format!("vpc{id}b"));
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip(&["link", "set", &a, "netns", &ns.client]);
        ip(&["link", "set", &b, "netns", &ns.resolver]);
        for (name, dev, addr) in [
            (&ns.client, &a, "10.253.0.1/30"),
            (&ns.resolver, &b, "10.253.0.2/30"),
        ] {
            ip(&["-n", name, "addr", "add", addr, "dev", dev]);
            ip(&["-n", name, "link", "set", dev, "up"]);
            ip(&["-n", name, "link", "set", "lo", "up"]);
        }
        ns
    }

    /// Moves the calling thread into namespace `name`.
    fn enter(name: &str) {
        let file = std::fs::File::open(format!("/var/run/netns/{name}")).expect("netns file");
        use std::os::fd::AsRawFd;
        // SAFETY: setns(2) on a namespace file we hold open; affects this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in [&self.client, &self.resolver] {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// A UDP DNS responder at 10.253.0.2:53 in the resolver namespace: answers every query
/// with one A record, [`ANSWER`], and counts what it got. Stops with `stop`.
fn responder(ns: &str, stop: Arc<AtomicBool>, count: Arc<AtomicUsize>) {
    let ns = ns.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        Namespaces::enter(&ns);
        let socket = UdpSocket::bind("10.253.0.2:53").expect("bind in the namespace");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 512];
        let until = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::Relaxed) && Instant::now() < until {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            count.fetch_add(1, Ordering::Relaxed);
            let mut answer = buf[..len].to_vec();
            answer[2] |= 0x80; // QR
            answer[3] = 0x80; // RA, NOERROR
            answer[6..8].copy_from_slice(&1u16.to_be_bytes());
            answer[10..12].fill(0);
            answer.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            answer.extend_from_slice(&ANSWER.octets());
            let _ = socket.send_to(&answer, from);
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the responder starts");
}

/// A query for `name`, type A, with `id`.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Runs `f` on a thread inside namespace `ns` (sockets it makes live there).
fn in_namespace<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        Namespaces::enter(&ns);
        f()
    })
    .join()
    .expect("the namespace thread")
}

/// One UDP exchange; the answer or none within 3 s.
fn ask_udp(server: SocketAddr, q: Vec<u8>) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    socket.send_to(&q, server).unwrap();
    let mut buf = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buf).ok()?;
    Some(buf[..len].to_vec())
}

/// One TCP exchange.
fn ask_tcp(server: SocketAddr, q: Vec<u8>) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&server, Duration::from_secs(3)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    stream.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).unwrap();
    buf
}

/// `vpcesim serve` inside namespace `ns`, killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs root for a network namespace: run .ci/run or cargo test -- --include-ignored as root"]
fn upstream_beyond_loopback_answers_vpc_views_only() {
    let ns = Namespaces::create();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    responder(&ns.resolver, stop.clone(), count.clone());
    let fixture = crate::support::fixture("dns.toml");
    let serve = Serve(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.client,
                env!("CARGO_BIN_EXE_vpcesim"),
                "serve",
            ])
            .arg(&fixture)
            .args([
                "--dns",
                "main=127.0.0.1:5301",
                "--dns",
                "127.0.0.1:5302",
                "--upstream",
                "10.253.0.2:53",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vpcesim serve starts"),
    );
    let main: SocketAddr = "127.0.0.1:5301".parse().unwrap();
    let public: SocketAddr = "127.0.0.1:5302".parse().unwrap();
    // Wait (at most 20 s) until serve answers an in-zone name.
    let up = in_namespace(&ns.client, move || {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if ask_udp(main, query(1, "kinesis.us-east-1.amazonaws.com")).is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    });
    assert!(up, "serve answers within 20 s");
    assert_eq!(
        count.load(Ordering::Relaxed),
        0,
        "in-zone names are not forwarded"
    );
    let a_record = |answer: &[u8], id: u16| {
        assert_eq!(
            &answer[..2],
            &id.to_be_bytes(),
            "the client's ID: {answer:02x?}"
        );
        assert_eq!(answer[3] & 0x0f, 0, "NOERROR: {answer:02x?}");
        assert_eq!(
            &answer[answer.len() - 4..],
            &ANSWER.octets(),
            "{answer:02x?}"
        );
    };
    // A VPC view forwards an out-of-zone name, over UDP and over TCP.
    let (udp, tcp) = in_namespace(&ns.client, move || {
        (
            ask_udp(main, query(0x1111, "www.example.org")),
            ask_tcp(main, query(0x2222, "www.example.org")),
        )
    });
    a_record(&udp.expect("an answer over UDP"), 0x1111);
    a_record(&tcp, 0x2222);
    assert_eq!(count.load(Ordering::Relaxed), 2);
    // The public view does not: REFUSED, and the upstream saw nothing.
    let refused = in_namespace(&ns.client, move || {
        ask_udp(public, query(0x3333, "www.example.org"))
    })
    .expect("an answer from the public view");
    assert_eq!(refused[3] & 0x0f, 5, "REFUSED: {refused:02x?}");
    assert_eq!(
        count.load(Ordering::Relaxed),
        2,
        "the public view is no reflector"
    );
    stop.store(true, Ordering::Relaxed);
    drop(serve);
    drop(ns);
}
