//! Shared helpers: fixtures, in-process servers and raw sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use vpcesim::control::ControlPlane;
use vpcesim::dns::server::{Config, DnsServer, Listener};
use vpcesim::dns::{DnsHandle, DnsSnapshot, ViewId};

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
