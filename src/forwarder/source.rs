//! Which address a connection to a loopback backend leaves from.
//!
//! The forwarder closes first toward the backend (it passes on the client's FIN), so
//! every short flow leaves a TIME_WAIT socket on the forwarder's side. Were every
//! connection to leave from 127.0.0.1, the kernel would pick each one's port by walking
//! the ephemeral range past the ports still in TIME_WAIT toward that same backend. At
//! 14,000 flows/s, spreading the sources cut the forwarder's CPU per connection from
//! about 71 µs to 43 µs (`benches/tcp_compare.sh`; perf had put 11 % of its samples in
//! the port search alone), and without `tcp_tw_reuse` one address would run out of
//! ports within seconds. Connections to a backend on 127.0.0.0/8 therefore leave from
//! the 254 addresses of [`SOURCES`] in turn (all of 127.0.0.0/8 is local on Linux), with
//! `IP_BIND_ADDRESS_NO_PORT`, so that the port is still chosen at `connect` against the
//! whole 4-tuple. Backends elsewhere, or where the option is missing, get a plain
//! connect.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::{TcpSocket, TcpStream};

/// The loopback addresses connections to a loopback backend leave from: 127.1.0.1 to
/// 127.1.0.254.
pub const SOURCES: (Ipv4Addr, u8) = (Ipv4Addr::new(127, 1, 0, 0), 254);

/// Hands out the source addresses of [`SOURCES`] in turn.
#[derive(Debug, Default)]
pub(crate) struct LoopbackSources {
    next: AtomicU32,
}

impl LoopbackSources {
    /// The next source address, round the range.
    fn next(&self) -> Ipv4Addr {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % u32::from(SOURCES.1);
        Ipv4Addr::from_bits(SOURCES.0.to_bits() + 1 + n)
    }

    /// Connects to `backend`, from the next source address if `backend` is on loopback.
    pub(crate) async fn connect(&self, backend: SocketAddr) -> io::Result<TcpStream> {
        match backend {
            SocketAddr::V4(v4) if v4.ip().is_loopback() => match self.bound_socket() {
                Some(socket) => socket.connect(backend).await,
                None => TcpStream::connect(backend).await,
            },
            _ => TcpStream::connect(backend).await,
        }
    }

    /// A socket bound to the next source address, its port left to `connect`; `None`
    /// where that cannot be done.
    fn bound_socket(&self) -> Option<TcpSocket> {
        let socket = TcpSocket::new_v4().ok()?;
        bind_address_no_port(&socket).ok()?;
        socket.bind(SocketAddrV4::new(self.next(), 0).into()).ok()?;
        Some(socket)
    }
}

/// Sets `IP_BIND_ADDRESS_NO_PORT`: a bind to port 0 picks the address only, and the port
/// is chosen at `connect`, unique for the 4-tuple rather than for the address.
#[cfg(target_os = "linux")]
fn bind_address_no_port(socket: &TcpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the given length.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere a bound port would be taken from the address alone: connect from the
/// default address instead.
#[cfg(not(target_os = "linux"))]
fn bind_address_no_port(_: &TcpSocket) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_go_round_the_range() {
        let sources = LoopbackSources::default();
        let first: Vec<_> = (0..255).map(|_| sources.next()).collect();
        assert_eq!(first[0], Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(first[253], Ipv4Addr::new(127, 1, 0, 254));
        assert_eq!(first[254], first[0]);
    }

    #[tokio::test]
    async fn a_loopback_backend_sees_the_spread_sources() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sources = LoopbackSources::default();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let _stream = sources.connect(addr).await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            seen.push(peer.ip());
        }
        let want: Vec<std::net::IpAddr> = (1..=3)
            .map(|i| Ipv4Addr::new(127, 1, 0, i).into())
            .collect();
        assert_eq!(seen, want);
    }

    #[tokio::test]
    async fn a_refusing_backend_still_refuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = LoopbackSources::default().connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }
}
