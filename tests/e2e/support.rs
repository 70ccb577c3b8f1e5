//! Shared helpers: fixtures, in-process servers and raw sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use vpcesim::control::ControlPlane;
use vpcesim::dns::server::{Config, DnsServer, Listener};
use vpcesim::dns::{DnsHandle, DnsSnapshot, ViewId};

/// The address of endpoint `endpoint`'s first ENI.
pub(crate) fn eni_ip(control: &ControlPlane, endpoint: &str) -> std::net::Ipv4Addr {
    let t = control.topology();
    t.enis[&t.endpoints[endpoint].enis[0]].ip
}

/// The ID of endpoint `endpoint`'s first ENI.
pub(crate) fn eni_id(control: &ControlPlane, endpoint: &str) -> String {
    control.topology().endpoints[endpoint].enis[0].clone()
}

/// An outside program that a real-client test needs: its path, found on `PATH`. A test
/// that runs without it fails, naming the program and how to install it; it never skips.
/// (Such tests are `#[ignore]`d, so plain `cargo test` needs none of them; `.ci/run`
/// installs them all and runs `cargo test -- --include-ignored`.)
pub(crate) fn program(name: &str, install: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("this test needs `{name}`, which is not on PATH: {install} (.ci/run installs it)")
    })
}

/// `dig`, from Debian's bind9-dnsutils.
pub(crate) fn dig_program() -> PathBuf {
    program("dig", "`apt-get install -y bind9-dnsutils`")
}

/// `curl`.
pub(crate) fn curl_program() -> PathBuf {
    program("curl", "`apt-get install -y curl`")
}

/// The AWS CLI: `VPCESIM_AWS_CLI`, else `.venv-aws/bin/aws` (where `.ci/run` puts it),
/// else `aws` on `PATH`.
pub(crate) fn aws_program() -> PathBuf {
    if let Some(path) = std::env::var_os("VPCESIM_AWS_CLI") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "VPCESIM_AWS_CLI names {}, which does not exist",
            path.display()
        );
        return path;
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-aws/bin/aws");
    if local.exists() {
        return local;
    }
    program(
        "aws",
        "set VPCESIM_AWS_CLI to the AWS CLI, or install it with \
         `python3 -m venv .venv-aws && .venv-aws/bin/pip install awscli`",
    )
}

/// A file under `tests/e2e/fixtures`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/fixtures")
        .join(name)
}

/// The control plane of a fixture scenario, as loaded.
pub(crate) fn load(name: &str) -> ControlPlane {
    vpcesim::scenario::load_file(&fixture(name))
        .unwrap_or_else(|e| panic!("fixture {name} does not load: {e}"))
        .control
}

/// A DNS server on 127.0.0.1 (free ports) with one listener per view.
pub(crate) struct TestDns {
    pub(crate) handle: Arc<DnsHandle>,
    pub(crate) server: DnsServer,
}

impl TestDns {
    pub(crate) async fn start(
        control: &ControlPlane,
        views: &[ViewId],
        upstream: Option<SocketAddr>,
    ) -> Self {
        let handle = Arc::new(DnsHandle::new(DnsSnapshot::compile(control)));
        let listeners = views
            .iter()
            .map(|view| Listener {
                addr: "127.0.0.1:0".parse().unwrap(),
                view: view.clone(),
            })
            .collect();
        let server = DnsServer::start(
            handle.clone(),
            Config {
                listeners,
                upstream,
                ..Config::default()
            },
        )
        .await
        .expect("the DNS server binds on loopback");
        Self { handle, server }
    }

    /// The address of the listener for `view`.
    pub(crate) fn addr(&self, view: &ViewId) -> SocketAddr {
        self.server
            .listeners()
            .iter()
            .find(|l| &l.view == view)
            .map(|l| l.addr)
            .expect("a listener for the view")
    }
}

/// Sends raw bytes over UDP and waits up to `wait` for one datagram back.
pub(crate) async fn udp_raw(
    addr: SocketAddr,
    packet: &[u8],
    wait: std::time::Duration,
) -> Option<Vec<u8>> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(packet, addr).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
        Ok(Ok((len, _))) => Some(buf[..len].to_vec()),
        _ => None,
    }
}

/// Sends one framed message over TCP and reads one framed answer.
pub(crate) async fn tcp_raw(addr: SocketAddr, packet: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.unwrap();
    buf
}

/// Where [`free_port`] looks: below Linux's ephemeral range (32768-60999), so that no
/// `connect` (of these tests, or of the forwarder) can take a port between the check and
/// the child's bind, as it could take a port that `bind(0)` handed out.
const TEST_PORTS: std::ops::Range<u16> = 20000..32000;

/// A free loopback port for both TCP and UDP (bound, then released for the caller).
/// Ports come in sequence from a per-process start, so the tests of this binary, which
/// run in parallel, never get the same one.
pub(crate) fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let span = TEST_PORTS.end - TEST_PORTS.start;
    // Start somewhere different in each run, so that a run's ports may still be in
    // TIME_WAIT without getting in the next one's way.
    let start = (std::process::id() % u32::from(span)) as u16;
    for _ in 0..200 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = TEST_PORTS.start + (start + n % span) % span;
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
    panic!("no port in {TEST_PORTS:?} free for both TCP and UDP on 127.0.0.1 in 200 tries");
}

/// The real `vpcesim serve` as a child process; killed when dropped (also on panic).
pub(crate) struct ServeProcess {
    child: std::sync::Mutex<std::process::Child>,
    pid: u32,
    log: Arc<std::sync::Mutex<Vec<String>>>,
    /// The thread that reads stderr into `log`; it ends when the process has exited.
    reader: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl ServeProcess {
    /// Starts `vpcesim serve ARGS...` and waits (at most 20 s) until its log has a line
    /// for each of `ready` (e.g. "serving DNS"), in any order.
    pub(crate) fn start(args: &[&str], ready: &[&str]) -> Self {
        Self::spawn(None, args, ready)
    }

    /// [`ServeProcess::start`] with `dir` as the working directory.
    pub(crate) fn start_in(dir: &std::path::Path, args: &[&str], ready: &[&str]) -> Self {
        Self::spawn(Some(dir), args, ready)
    }

    fn spawn(dir: Option<&std::path::Path>, args: &[&str], ready: &[&str]) -> Self {
        use std::io::BufRead;
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_vpcesim"));
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command
            .arg("serve")
            .args(args)
            // The default log level, as a user gets it.
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start vpcesim serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let serve = Self {
            pid: child.id(),
            child: std::sync::Mutex::new(child),
            log,
            reader: std::sync::Mutex::new(Some(reader)),
        };
        for want in ready {
            serve.wait_for_log(want, std::time::Duration::from_secs(20));
        }
        serve
    }

    /// The process ID, for signals.
    pub(crate) fn pid(&self) -> i32 {
        i32::try_from(self.pid).expect("a pid fits in i32")
    }

    /// Sends `signal` (libc's number) to the process.
    pub(crate) fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's PID has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Everything the process has logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// How many log lines contain `text`.
    pub(crate) fn log_count(&self, text: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    /// Waits (bounded) until at least `n` log lines contain `text`.
    pub(crate) fn wait_for_log_n(&self, text: &str, n: usize, wait: std::time::Duration) {
        let deadline = std::time::Instant::now() + wait;
        while self.log_count(text) < n {
            if let Ok(Some(status)) = self.child.lock().unwrap().try_wait() {
                panic!(
                    "serve exited ({status}) before logging `{text}`:\n{}",
                    self.log()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not log `{text}` ({n} times) within {wait:?}:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits (bounded) until a log line contains `text`.
    pub(crate) fn wait_for_log(&self, text: &str, wait: std::time::Duration) {
        self.wait_for_log_n(text, 1, wait);
    }

    /// Waits (bounded) for the process to exit and returns its status.
    pub(crate) fn wait_exit(&self, wait: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(status) = self
                .child
                .lock()
                .unwrap()
                .try_wait()
                .expect("wait for serve")
            {
                // Every line the process wrote is in the log before this returns.
                if let Some(reader) = self.reader.lock().unwrap().take() {
                    let _ = reader.join();
                }
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not exit within {wait:?}:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One `dig` answer: the response code and the A records (address, TTL) in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dig {
    pub(crate) status: String,
    pub(crate) addresses: Vec<std::net::Ipv4Addr>,
    pub(crate) ttls: Vec<u32>,
}

/// `dig @127.0.0.1 -p PORT NAME A` with the real `dig` (bind9-dnsutils).
pub(crate) fn dig(port: u16, name: &str) -> Dig {
    let out = std::process::Command::new(dig_program())
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+tries=1",
            "+time=2",
            "+noall",
            "+comments",
            "+answer",
            name,
            "A",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run dig: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "dig {name} failed: {text}");
    let status = text
        .split_once("status: ")
        .and_then(|(_, rest)| rest.split(',').next())
        .unwrap_or_else(|| panic!("dig {name}: no status in\n{text}"))
        .to_string();
    let mut addresses = Vec::new();
    let mut ttls = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with(';')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [_, ttl, "IN", "A", ip] = fields[..] {
            ttls.push(ttl.parse().expect("a TTL"));
            addresses.push(ip.parse().expect("an IPv4 address"));
        }
    }
    Dig {
        status,
        addresses,
        ttls,
    }
}
