//! Real sockets for the DNS views: the one IO adapter of `dns`.
//!
//! Each listener is one address that answers as one view, on UDP and TCP:
//! - UDP runs on a dedicated thread in a tight receive-answer-send loop, batched with
//!   `recvmmsg`/`sendmmsg` on Linux, answering from the current snapshot with the same
//!   code as every other path (`DnsSnapshot::answer_into`); no task per query, no log per
//!   query;
//! - TCP runs our own accept loop ([`super::tcp`]): bounded connections, back-off when
//!   descriptors run out, and the snapshot's bytes written as they are.
//!
//! Both transports answer every query, malformed ones included, with the same bytes
//! (a query longer than [`MAX_QUERY`] gets FORMERR on both). In a VPC view, names
//! outside the served zones go to the upstream resolver when one is configured
//! ([`super::upstream`]); the public view never forwards.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;
use tracing::{info, warn};

pub use super::tcp::{DEFAULT_TCP_CONNECTIONS, TCP_IDLE};
use super::tcp::{TcpContext, accept_loop};
pub use super::upstream::{DEFAULT_UPSTREAM_IN_FLIGHT, UPSTREAM_TIMEOUT};
use super::upstream::{ReplyTo, Upstream, forwards};
use super::{DnsHandle, MAX_QUERY, Outcome, ViewId};

/// How often the UDP thread looks at the stop flag when no query arrives.
const STOP_POLL: Duration = Duration::from_millis(100);
/// The receive buffer asked of the kernel: bursts of queries must not be dropped.
const RCVBUF: usize = 8 << 20;

/// One address and the view it answers as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Where to listen (UDP and TCP); port 0 picks a free port.
    pub addr: SocketAddr,
    /// Which resolver it is.
    pub view: ViewId,
}

/// What to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// The listeners.
    pub listeners: Vec<Listener>,
    /// Where a VPC view's names outside the served zones go; REFUSED without it.
    pub upstream: Option<SocketAddr>,
    /// How many forwarded queries may wait for the upstream at once; more get REFUSED
    /// ([`DEFAULT_UPSTREAM_IN_FLIGHT`]).
    pub upstream_in_flight: usize,
    /// How many TCP connections each listener keeps open ([`DEFAULT_TCP_CONNECTIONS`]).
    pub tcp_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listeners: Vec::new(),
            upstream: None,
            upstream_in_flight: DEFAULT_UPSTREAM_IN_FLIGHT,
            tcp_connections: DEFAULT_TCP_CONNECTIONS,
        }
    }
}

/// A running DNS server; stop it with [`DnsServer::shutdown`].
pub struct DnsServer {
    bound: Vec<Listener>,
    stop: Arc<AtomicBool>,
    stop_tcp: watch::Sender<bool>,
    udp: Vec<JoinHandle<()>>,
    tcp: Vec<tokio::task::JoinHandle<()>>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

/// Why the DNS server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener's address cannot be bound (for UDP or for TCP).
    #[error("cannot bind UDP and TCP on {addr}: {source}")]
    Bind {
        /// The listener's address, as configured.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// A socket or a thread could not be set up.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl DnsServer {
    /// Binds every listener and starts serving `handle`'s snapshots. Must run inside a
    /// tokio runtime (TCP and forwarding are tasks; UDP has its own threads).
    pub async fn start(handle: Arc<DnsHandle>, config: Config) -> Result<Self, StartError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (stop_tcp, tcp_stopped) = watch::channel(false);
        let (upstream, forwarder) = match config.upstream {
            Some(addr) => {
                let (upstream, task) = Upstream::start(addr, config.upstream_in_flight)?;
                (Some(upstream), Some(task))
            }
            None => (None, None),
        };
        let mut server = Self {
            bound: Vec::new(),
            stop: stop.clone(),
            stop_tcp,
            udp: Vec::new(),
            tcp: Vec::new(),
            forwarder,
        };
        for listener in &config.listeners {
            let (udp, tcp) = bind_pair(listener.addr)
                .await
                .map_err(|source| StartError::Bind {
                    addr: listener.addr,
                    source,
                })?;
            let udp = Arc::new(udp);
            let addr = udp.local_addr()?;
            let context = Arc::new(TcpContext {
                handle: handle.clone(),
                view: listener.view.clone(),
                upstream: upstream.clone(),
            });
            server.tcp.push(tokio::spawn(accept_loop(
                tcp,
                context,
                config.tcp_connections,
                tcp_stopped.clone(),
            )));
            let (handle, view, stop, upstream) = (
                handle.clone(),
                listener.view.clone(),
                stop.clone(),
                upstream.clone(),
            );
            let thread = std::thread::Builder::new()
                .name(format!("dns-udp-{addr}"))
                .spawn(move || udp_loop(&udp, &handle, &view, &stop, upstream.as_deref()))?;
            server.udp.push(thread);
            info!(%addr, view = %listener.view, "DNS listening on UDP and TCP");
            server.bound.push(Listener {
                addr,
                view: listener.view.clone(),
            });
        }
        Ok(server)
    }

    /// The listeners as bound (with the ports picked for port 0).
    pub fn listeners(&self) -> &[Listener] {
        &self.bound
    }

    /// Stops every listener and waits for them.
    pub async fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.stop_tcp.send(true);
        for tcp in self.tcp.drain(..) {
            if tcp.await.is_err() {
                warn!("a TCP accept loop panicked");
            }
        }
        for thread in self.udp.drain(..) {
            if thread.join().is_err() {
                warn!("a UDP thread panicked");
            }
        }
        if let Some(forwarder) = self.forwarder.take() {
            forwarder.abort();
        }
    }
}

/// The UDP socket and TCP listener of one address. For port 0 the kernel picks a free
/// UDP port, which TCP may already use elsewhere: then it tries another.
async fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, tokio::net::TcpListener)> {
    let mut attempts = 0;
    loop {
        let udp = bind_udp(addr)?;
        match tokio::net::TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse && attempts < 32 => {
                attempts += 1
            }
            Err(e) => return Err(e),
        }
    }
}

/// A UDP socket with a large receive buffer and a read timeout (to see the stop flag).
fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    force_rcvbuf(&socket);
    socket.set_read_timeout(Some(STOP_POLL))?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Asks for [`RCVBUF`]: `SO_RCVBUFFORCE` when allowed (root), else up to `rmem_max`.
fn force_rcvbuf(socket: &Socket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let size = libc::c_int::try_from(RCVBUF).unwrap_or(libc::c_int::MAX);
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live c_int.
        let forced = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&raw const size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if forced == 0 {
            return;
        }
    }
    let _ = socket.set_recv_buffer_size(RCVBUF);
}

/// Answers one received query; true to send `out` back now. `truncated`: the
/// datagram was longer than the buffer, so `query` is only its start.
fn answer_one(
    snapshot: &super::DnsSnapshot,
    view: &ViewId,
    (query, truncated): (&[u8], bool),
    client: SocketAddr,
    socket: &Arc<UdpSocket>,
    upstream: Option<&Upstream>,
    out: &mut Vec<u8>,
) -> bool {
    if truncated {
        return super::answer::too_long(query, out) == Outcome::Reply;
    }
    match snapshot.answer_into(view, query, 512, out) {
        Outcome::Reply => true,
        Outcome::Drop => false,
        Outcome::Outside => match upstream {
            Some(upstream) if forwards(view) => {
                let reply = ReplyTo::Udp {
                    socket: socket.clone(),
                    client,
                };
                upstream.forward(query, out, reply);
                false
            }
            _ => true,
        },
    }
}

/// A receive that found nothing (the read timeout that lets the loop see `stop`, or a
/// signal), not a failure.
fn is_idle(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(not(target_os = "linux"))]
fn udp_loop(
    socket: &Arc<UdpSocket>,
    handle: &DnsHandle,
    view: &ViewId,
    stop: &AtomicBool,
    upstream: Option<&Upstream>,
) {
    let mut buf = vec![0u8; MAX_QUERY + 1];
    let mut out = Vec::with_capacity(4096);
    while !stop.load(Ordering::Relaxed) {
        let (len, client) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if is_idle(&e) => continue,
            Err(error) => {
                warn!(%error, "UDP receive failed");
                continue;
            }
        };
        let snapshot = handle.load();
        // A datagram that filled the buffer is longer than any query we accept.
        let query = (&buf[..len.min(MAX_QUERY)], len > MAX_QUERY);
        if answer_one(&snapshot, view, query, client, socket, upstream, &mut out) {
            let _ = socket.send_to(&out, client);
        }
    }
}

#[cfg(target_os = "linux")]
fn udp_loop(
    socket: &Arc<UdpSocket>,
    handle: &DnsHandle,
    view: &ViewId,
    stop: &AtomicBool,
    upstream: Option<&Upstream>,
) {
    let mut batch = linux::Batch::new();
    while !stop.load(Ordering::Relaxed) {
        let received = match batch.receive(socket) {
            Ok(n) => n,
            Err(e) if is_idle(&e) => continue,
            Err(error) => {
                warn!(%error, "UDP receive failed");
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        let snapshot = handle.load();
        for i in 0..received {
            let (query, client, out) = batch.slot(i);
            let reply = answer_one(&snapshot, view, query, client, socket, upstream, out);
            batch.set_reply(i, reply);
        }
        batch.send(socket);
    }
}

#[cfg(target_os = "linux")]
mod linux {
    //! `recvmmsg`/`sendmmsg` batches: one system call for up to [`BATCH`] datagrams.

    use std::io;
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;

    /// Datagrams per system call.
    pub(super) const BATCH: usize = 32;
    /// Room per datagram: the longest query answered. A longer datagram is cut by the
    /// kernel, which says so (`MSG_TRUNC`): it gets FORMERR, as over TCP.
    const SLOT: usize = super::MAX_QUERY;

    /// Buffers and headers for one batch; every pointer is re-aimed before each call.
    pub(super) struct Batch {
        rx: Vec<u8>,
        lens: [usize; BATCH],
        truncated: [bool; BATCH],
        addrs: Vec<libc::sockaddr_storage>,
        addr_lens: [libc::socklen_t; BATCH],
        out: Vec<Vec<u8>>,
        reply: [bool; BATCH],
        received: usize,
    }

    /// The sender's address, as the kernel wrote it.
    fn to_socket_addr(storage: &libc::sockaddr_storage) -> SocketAddr {
        match libc::c_int::from(storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in, which it can.
                let v4: &libc::sockaddr_in = unsafe { &*(std::ptr::from_ref(storage).cast()) };
                let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                SocketAddr::from((ip, u16::from_be(v4.sin_port)))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let v6: &libc::sockaddr_in6 = unsafe { &*(std::ptr::from_ref(storage).cast()) };
                let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
                SocketAddr::from((ip, u16::from_be(v6.sin6_port)))
            }
            _ => SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    impl Batch {
        pub(super) fn new() -> Self {
            Self {
                rx: vec![0; BATCH * SLOT],
                lens: [0; BATCH],
                truncated: [false; BATCH],
                // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
                addrs: vec![unsafe { std::mem::zeroed() }; BATCH],
                addr_lens: [0; BATCH],
                out: (0..BATCH).map(|_| Vec::with_capacity(SLOT)).collect(),
                reply: [false; BATCH],
                received: 0,
            }
        }

        /// Blocks until at least one datagram arrives (or the read timeout passes).
        pub(super) fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
            // SAFETY: iovec and mmsghdr are plain data; zero is a valid start.
            let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
            let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
            let base = self.rx.as_mut_ptr();
            for i in 0..BATCH {
                // SAFETY: i * SLOT + SLOT <= rx.len().
                iov[i].iov_base = unsafe { base.add(i * SLOT) }.cast();
                iov[i].iov_len = SLOT;
                hdrs[i].msg_hdr.msg_name = (&raw mut self.addrs[i]).cast();
                hdrs[i].msg_hdr.msg_namelen =
                    std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                hdrs[i].msg_hdr.msg_iov = &raw mut iov[i];
                hdrs[i].msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: every header points at live buffers of the stated sizes, which
            // outlive the call; the kernel writes at most BATCH headers.
            let n = unsafe {
                libc::recvmmsg(
                    socket.as_raw_fd(),
                    hdrs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                self.received = 0;
                return Err(io::Error::last_os_error());
            }
            let n = usize::try_from(n).unwrap_or(0).min(BATCH);
            for (i, hdr) in hdrs.iter().enumerate().take(n) {
                self.lens[i] = (hdr.msg_len as usize).min(SLOT);
                self.truncated[i] = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                self.addr_lens[i] = hdr.msg_hdr.msg_namelen;
                self.reply[i] = false;
            }
            self.received = n;
            Ok(n)
        }

        /// Datagram `i`: its bytes and whether the kernel cut it, its sender, and the
        /// buffer for its answer.
        pub(super) fn slot(&mut self, i: usize) -> ((&[u8], bool), SocketAddr, &mut Vec<u8>) {
            let query = &self.rx[i * SLOT..i * SLOT + self.lens[i]];
            let client = to_socket_addr(&self.addrs[i]);
            ((query, self.truncated[i]), client, &mut self.out[i])
        }

        /// Whether datagram `i` gets the answer in its buffer.
        pub(super) fn set_reply(&mut self, i: usize, reply: bool) {
            self.reply[i] = reply;
        }

        /// Sends every answer of the batch, in as few calls as the kernel allows.
        pub(super) fn send(&mut self, socket: &UdpSocket) {
            // SAFETY: plain data, zero is valid.
            let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
            let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
            let mut count = 0;
            for i in 0..self.received {
                if !self.reply[i] || self.out[i].is_empty() {
                    continue;
                }
                iov[count].iov_base = self.out[i].as_mut_ptr().cast();
                iov[count].iov_len = self.out[i].len();
                hdrs[count].msg_hdr.msg_name = (&raw mut self.addrs[i]).cast();
                hdrs[count].msg_hdr.msg_namelen = self.addr_lens[i];
                hdrs[count].msg_hdr.msg_iov = &raw mut iov[count];
                hdrs[count].msg_hdr.msg_iovlen = 1;
                count += 1;
            }
            let mut sent = 0;
            while sent < count {
                // SAFETY: headers sent..count point at live answer buffers and addresses.
                let n = unsafe {
                    libc::sendmmsg(
                        socket.as_raw_fd(),
                        hdrs.as_mut_ptr().add(sent),
                        (count - sent) as libc::c_uint,
                        0,
                    )
                };
                if n <= 0 {
                    let error = io::Error::last_os_error();
                    if error.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    // Skip the datagram the kernel refused (e.g. an unreachable sender).
                    sent += 1;
                } else {
                    sent += n as usize;
                }
            }
        }
    }
}
