//! The applications on the hosts' sockets: a client that holds a connection, a
//! sender and a receiver of pattern bytes with their digests, and the ENI-side backend
//! models (echo, sink, source).
//!
//! Bytes are real: a sender copies a seeded pattern into its socket, the receiver takes
//! a CRC-32 of every byte it reads, and the step compares it with the CRC of what the
//! sender was to send. CRC-32 because it composes: the expected value of a stream of
//! any length is computed from the pattern's period in O(log n) (`Hasher::combine`),
//! so only the receiver reads the bytes, and crc32fast's carry-less-multiply kernel
//! keeps that pass cheap next to the copies.

use std::time::Duration;

use crc32fast::Hasher;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;

/// The pattern's period: a prime, so that no segment size or buffer size is a multiple
/// of it and a misplaced segment changes the bytes the receiver sees.
const PATTERN_LEN: usize = 65_521;

/// Seeded pseudo-random bytes that senders copy from.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// `PATTERN_LEN` bytes written twice, so any window of up to `PATTERN_LEN` is contiguous.
    bytes: Vec<u8>,
}

impl Pattern {
    /// The pattern of scenario seed `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut bytes = vec![0; PATTERN_LEN * 2];
        rng.fill_bytes(&mut bytes[..PATTERN_LEN]);
        bytes.copy_within(..PATTERN_LEN, PATTERN_LEN);
        Self { bytes }
    }

    /// Fills `dst` with the stream's bytes from `offset` on.
    pub(crate) fn fill(&self, dst: &mut [u8], mut offset: u64) {
        for chunk in dst.chunks_mut(PATTERN_LEN) {
            let at = (offset % PATTERN_LEN as u64) as usize;
            chunk.copy_from_slice(&self.bytes[at..at + chunk.len()]);
            offset += chunk.len() as u64;
        }
    }

    /// The CRC-32 of `len` stream bytes from `offset` on, without reading them all.
    pub(crate) fn expected_crc(&self, offset: u64, len: u64) -> u32 {
        let p = PATTERN_LEN as u64;
        let at = (offset % p) as usize;
        let mut crc = Hasher::new();
        // Up to the end of the current period.
        let head = len.min(p - at as u64) as usize;
        crc.update(&self.bytes[at..at + head]);
        let rest = len - head as u64;
        // Whole periods, by doubling.
        let mut period = Hasher::new();
        period.update(&self.bytes[..PATTERN_LEN]);
        let mut k = rest / p;
        while k > 0 {
            if k & 1 == 1 {
                crc.combine(&period);
            }
            let twice = period.clone();
            period.combine(&twice);
            k >>= 1;
        }
        crc.update(&self.bytes[..(rest % p) as usize]);
        crc.finalize()
    }
}

/// What a connection's application does.
pub(crate) enum Role {
    /// Opens the connection and sends nothing (a `connect` step's client).
    Hold,
    /// Writes `total` pattern bytes (the stream's sender; the `source` backend writes
    /// without end).
    Send(Sender),
    /// Reads and hashes everything (the stream's receiver; the `sink` backend).
    Receive(Receiver),
    /// Writes back what it reads (the `echo` backend).
    Echo,
    /// A server socket whose client is not known yet: bound once it is established.
    Unbound,
}

/// A sender of pattern bytes.
pub(crate) struct Sender {
    pub(crate) total: u64,
    pub(crate) sent: u64,
    /// Offset of this stream in the pattern, so streams differ.
    pub(crate) salt: u64,
    pub(crate) first_at: Option<Duration>,
    pub(crate) acked_at: Option<Duration>,
}

impl Sender {
    /// A sender of `total` bytes.
    pub(crate) fn new(total: u64, salt: u64) -> Self {
        Self {
            total,
            sent: 0,
            salt,
            first_at: None,
            acked_at: None,
        }
    }
}

/// A receiver that takes the CRC of what it reads.
pub(crate) struct Receiver {
    pub(crate) got: u64,
    pub(crate) crc: Hasher,
}

impl Receiver {
    /// A receiver that has read nothing.
    pub(crate) fn new() -> Self {
        Self {
            got: 0,
            crc: Hasher::new(),
        }
    }
}

/// One TCP connection's end: which host, which socket, what it runs.
pub(crate) struct Conn {
    pub(crate) host: usize,
    pub(crate) handle: SocketHandle,
    pub(crate) role: Role,
    /// When it reached `Established`.
    pub(crate) established_at: Option<Duration>,
}

impl Conn {
    /// Runs the application once; true if it moved bytes (the host needs another poll).
    pub(crate) fn run(
        &mut self,
        socket: &mut tcp::Socket<'static>,
        now: Duration,
        pattern: &Pattern,
        scratch: &mut Vec<u8>,
    ) -> bool {
        if self.established_at.is_none() && socket.state() == tcp::State::Established {
            self.established_at = Some(now);
        }
        match &mut self.role {
            Role::Hold | Role::Unbound => false,
            Role::Send(s) => send(s, socket, now, pattern),
            Role::Receive(r) => receive(r, socket),
            Role::Echo => echo(socket, scratch),
        }
    }
}

fn send(
    s: &mut Sender,
    socket: &mut tcp::Socket<'static>,
    now: Duration,
    pattern: &Pattern,
) -> bool {
    let mut moved = false;
    while s.sent < s.total && socket.can_send() {
        let left = s.total - s.sent;
        let offset = s.sent + s.salt;
        let n = socket
            .send(|buf| {
                let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let chunk = &mut buf[..n];
                pattern.fill(chunk, offset);
                (n, n)
            })
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        s.sent += n as u64;
        s.first_at.get_or_insert(now);
        moved = true;
    }
    if s.sent == s.total && s.acked_at.is_none() && socket.send_queue() == 0 && socket.is_active() {
        s.acked_at = Some(now);
    }
    moved
}

fn receive(r: &mut Receiver, socket: &mut tcp::Socket<'static>) -> bool {
    let mut moved = false;
    while socket.can_recv() {
        let n = socket
            .recv(|buf| {
                r.crc.update(buf);
                (buf.len(), buf.len())
            })
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        r.got += n as u64;
        moved = true;
    }
    moved
}

fn echo(socket: &mut tcp::Socket<'static>, scratch: &mut Vec<u8>) -> bool {
    let mut moved = false;
    while socket.can_recv() && socket.can_send() {
        let room = socket.send_capacity() - socket.send_queue();
        scratch.resize(room.min(64 * 1024), 0);
        let n = socket.recv_slice(scratch).unwrap_or(0);
        if n == 0 {
            break;
        }
        // Room was measured first, so everything read fits.
        let _ = socket.send_slice(&scratch[..n]);
        moved = true;
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_seeded_and_continuous_across_chunks() {
        let p = Pattern::new(1);
        assert_ne!(p.bytes[..64], Pattern::new(2).bytes[..64]);
        let mut whole = vec![0; 200_000];
        p.fill(&mut whole, 12_345);
        let mut parts = vec![0; 200_000];
        let (a, b) = parts.split_at_mut(70_001);
        p.fill(a, 12_345);
        p.fill(b, 12_345 + 70_001);
        assert_eq!(whole, parts);
        for (offset, len) in [
            (12_345u64, 200_000usize),
            (0, 65_521),
            (65_520, 1),
            (7, 0),
            (3, 131_042),
        ] {
            let mut bytes = vec![0; len];
            p.fill(&mut bytes, offset);
            assert_eq!(
                p.expected_crc(offset, len as u64),
                crc32fast::hash(&bytes),
                "{offset} {len}"
            );
        }
        // A swapped pair of segments changes the CRC.
        let mut swapped = whole.clone();
        let (a, b) = swapped.split_at_mut(8460);
        a.swap_with_slice(&mut b[..8460]);
        assert_ne!(crc32fast::hash(&swapped), crc32fast::hash(&whole));
    }
}
