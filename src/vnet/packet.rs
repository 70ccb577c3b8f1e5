//! IPv4 packets on the fabric: pooled buffers, the few header fields the fabric reads,
//! MSS clamping and the UDP datagrams the in-fabric resolver writes.
//!
//! The fabric never computes a checksum (every host's device declares checksums
//! ignored), so rewriting an MSS option needs no checksum update.

use std::net::Ipv4Addr;

/// The size of every pooled buffer: the largest frame any host may emit (an EC2
/// instance's 9001-byte MTU) rounded up.
pub(crate) const BUF_SIZE: usize = 9216;

/// IP protocol numbers the fabric carries.
pub(crate) const IPPROTO_TCP: u8 = 6;
/// UDP.
pub(crate) const IPPROTO_UDP: u8 = 17;

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

/// One IP packet in a pooled buffer: `buf` always has `BUF_SIZE` bytes, `len` are used.
#[derive(Debug)]
pub(crate) struct Packet {
    buf: Vec<u8>,
    len: usize,
}

impl Packet {
    /// The packet's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The packet's bytes, writable.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// A free list of packet buffers, so that the steady state allocates nothing per packet.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    free: Vec<Vec<u8>>,
    allocated: usize,
}

impl Pool {
    /// A packet of `len` bytes (at most `BUF_SIZE`), contents unspecified.
    pub(crate) fn take(&mut self, len: usize) -> Packet {
        let buf = self.free.pop().unwrap_or_else(|| {
            self.allocated += 1;
            vec![0; BUF_SIZE]
        });
        Packet {
            buf,
            len: len.min(BUF_SIZE),
        }
    }

    /// Returns a packet's buffer to the pool.
    pub(crate) fn give(&mut self, packet: Packet) {
        self.free.push(packet.buf);
    }

    /// How many buffers were ever allocated (a bound on the pool's memory).
    pub(crate) fn allocated(&self) -> usize {
        self.allocated
    }
}

/// The header fields the fabric decides and forwards on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The IP protocol number.
    pub(crate) proto: u8,
    /// Source address.
    pub(crate) src: Ipv4Addr,
    /// Destination address.
    pub(crate) dst: Ipv4Addr,
    /// Source port (0 for other protocols).
    pub(crate) src_port: u16,
    /// Destination port.
    pub(crate) dst_port: u16,
    /// TCP flags (0 for UDP).
    pub(crate) flags: u8,
    /// Where the transport payload starts.
    pub(crate) payload_at: usize,
    /// Transport payload length.
    pub(crate) payload_len: usize,
}

impl Header {
    /// Parses the IPv4 and TCP/UDP headers; `None` for anything malformed or other.
    pub(crate) fn parse(p: &[u8]) -> Option<Self> {
        let first = *p.first()?;
        if first >> 4 != 4 || p.len() < 20 {
            return None;
        }
        let ihl = usize::from(first & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        if ihl < 20 || total < ihl || total > p.len() {
            return None;
        }
        let proto = p[9];
        let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
        let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
        let t = &p[ihl..total];
        let (src_port, dst_port, flags, header_len) = match proto {
            IPPROTO_TCP if t.len() >= 20 => {
                let doff = usize::from(t[12] >> 4) * 4;
                if doff < 20 || doff > t.len() {
                    return None;
                }
                (port(t, 0), port(t, 2), t[13], doff)
            }
            IPPROTO_UDP if t.len() >= 8 => (port(t, 0), port(t, 2), 0, 8),
            _ => return None,
        };
        Some(Self {
            proto,
            src,
            dst,
            src_port,
            dst_port,
            flags,
            payload_at: ihl + header_len,
            payload_len: t.len() - header_len,
        })
    }

    /// A TCP SYN without ACK: the packet that opens a flow.
    pub(crate) fn is_syn(&self) -> bool {
        self.proto == IPPROTO_TCP && self.flags & (TCP_SYN | TCP_ACK) == TCP_SYN
    }

    /// Any TCP segment with SYN set (SYN or SYN-ACK): the ones that carry an MSS.
    pub(crate) fn has_syn(&self) -> bool {
        self.proto == IPPROTO_TCP && self.flags & TCP_SYN != 0
    }
}

fn port(t: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([t[at], t[at + 1]])
}

/// Lowers the MSS option of a SYN or SYN-ACK to `max`; returns the MSS now in it.
pub(crate) fn clamp_mss(p: &mut [u8], max: u16) -> Option<u16> {
    let ihl = usize::from(p.first()? & 0x0f) * 4;
    let doff = usize::from(p.get(ihl + 12)? >> 4) * 4;
    let opts = p.get_mut(ihl + 20..ihl + doff)?;
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 || i + len > opts.len() {
                    return None;
                }
                if kind == 2 && len == 4 {
                    let mss = u16::from_be_bytes([opts[i + 2], opts[i + 3]]);
                    let clamped = mss.min(max);
                    opts[i + 2..i + 4].copy_from_slice(&clamped.to_be_bytes());
                    return Some(clamped);
                }
                i += len;
            }
        }
    }
    None
}

/// Writes an IPv4/UDP datagram into `packet` (resized to fit); false if it does not fit.
pub(crate) fn write_udp(
    packet: &mut Packet,
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> bool {
    let total = 28 + payload.len();
    if total > BUF_SIZE || total > usize::from(u16::MAX) {
        return false;
    }
    packet.len = total;
    let b = &mut packet.buf[..total];
    b[..20].fill(0);
    b[0] = 0x45;
    b[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    b[6] = 0x40; // don't fragment
    b[8] = 64;
    b[9] = IPPROTO_UDP;
    b[12..16].copy_from_slice(&src.0.octets());
    b[16..20].copy_from_slice(&dst.0.octets());
    b[20..22].copy_from_slice(&src.1.to_be_bytes());
    b[22..24].copy_from_slice(&dst.1.to_be_bytes());
    b[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    b[26..28].fill(0); // no UDP checksum (allowed over IPv4)
    b[28..].copy_from_slice(payload);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_syn(mss: u16) -> Vec<u8> {
        let mut p = vec![0u8; 20 + 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&48u16.to_be_bytes());
        p[9] = IPPROTO_TCP;
        p[12..16].copy_from_slice(&[10, 0, 1, 10]);
        p[16..20].copy_from_slice(&[10, 0, 2, 20]);
        p[20..22].copy_from_slice(&32768u16.to_be_bytes());
        p[22..24].copy_from_slice(&443u16.to_be_bytes());
        p[32] = 7 << 4; // 28-byte header
        p[33] = TCP_SYN;
        // options: NOP, NOP, MSS, window scale 3, NOP... padding
        p[40] = 1;
        p[41] = 1;
        p[42] = 2;
        p[43] = 4;
        p[44..46].copy_from_slice(&mss.to_be_bytes());
        p[46] = 1;
        p[47] = 0;
        p
    }

    #[test]
    fn parses_a_syn_and_clamps_its_mss() {
        let mut p = tcp_syn(8961);
        let h = Header::parse(&p).unwrap();
        assert!(h.is_syn() && h.has_syn());
        assert_eq!((h.src_port, h.dst_port, h.payload_len), (32768, 443, 0));
        assert_eq!(h.dst, Ipv4Addr::new(10, 0, 2, 20));
        assert_eq!(clamp_mss(&mut p, 8460), Some(8460));
        assert_eq!(u16::from_be_bytes([p[44], p[45]]), 8460);
        // A smaller MSS is left alone.
        let mut small = tcp_syn(1460);
        assert_eq!(clamp_mss(&mut small, 8460), Some(1460));
    }

    #[test]
    fn rejects_truncated_and_other_packets() {
        let p = tcp_syn(1460);
        assert!(Header::parse(&p[..30]).is_none());
        let mut icmp = p.clone();
        icmp[9] = 1;
        assert!(Header::parse(&icmp).is_none());
        let mut v6 = p;
        v6[0] = 0x60;
        assert!(Header::parse(&v6).is_none());
    }

    #[test]
    fn writes_a_udp_datagram_that_parses_back() {
        let mut pool = Pool::default();
        let mut pkt = pool.take(0);
        let src = (Ipv4Addr::new(10, 0, 0, 2), 53);
        let dst = (Ipv4Addr::new(10, 0, 1, 10), 32768);
        assert!(write_udp(&mut pkt, src, dst, b"hello"));
        let h = Header::parse(pkt.bytes()).unwrap();
        assert_eq!(
            (h.proto, h.src, h.src_port, h.dst_port),
            (IPPROTO_UDP, src.0, 53, 32768)
        );
        assert_eq!(&pkt.bytes()[h.payload_at..], b"hello");
        pool.give(pkt);
        let again = pool.take(10);
        assert_eq!(pool.allocated(), 1, "the buffer is reused");
        assert_eq!(again.len(), 10);
    }
}
