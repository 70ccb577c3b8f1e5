//! IPv4 packets on the fabric: pooled buffers, the few header fields the fabric reads,
//! MSS clamping and the UDP datagrams the in-fabric resolver writes.
//!
//! Every byte is read and written through `smoltcp::wire` (`new_checked` before any
//! field is read, the `Packet`/`Repr` split for what is written), the same code the
//! hosts' stacks use. The fabric never computes a checksum (every host's device
//! declares checksums ignored), so rewriting an MSS option needs no checksum update.

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpOption, TcpPacket, UdpPacket, UdpRepr,
};

/// The size of every pooled buffer: the largest frame any host may emit (an EC2
/// instance's 9001-byte MTU) rounded up.
pub(crate) const BUF_SIZE: usize = 9216;

/// The TTL of the datagrams the fabric writes itself.
const HOP_LIMIT: u8 = 64;

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
    /// The transport: TCP or UDP.
    pub(crate) proto: IpProtocol,
    /// Source address.
    pub(crate) src: Ipv4Addr,
    /// Destination address.
    pub(crate) dst: Ipv4Addr,
    /// Source port.
    pub(crate) src_port: u16,
    /// Destination port.
    pub(crate) dst_port: u16,
    /// TCP SYN set (false for UDP).
    syn: bool,
    /// TCP ACK set (false for UDP).
    ack: bool,
    /// Where the transport payload starts.
    pub(crate) payload_at: usize,
    /// Transport payload length.
    pub(crate) payload_len: usize,
}

impl Header {
    /// Parses the IPv4 and TCP/UDP headers; `None` for anything malformed (lengths that
    /// do not fit the buffer or each other) or another protocol.
    pub(crate) fn parse(p: &[u8]) -> Option<Self> {
        let ip = Ipv4Packet::new_checked(p).ok()?;
        if ip.version() != 4 {
            return None;
        }
        let ip_header = usize::from(ip.header_len());
        let (src_port, dst_port, syn, ack, transport_header, payload_len) = match ip.next_header() {
            IpProtocol::Tcp => {
                let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
                let header = usize::from(tcp.header_len());
                let (src, dst) = (tcp.src_port(), tcp.dst_port());
                (src, dst, tcp.syn(), tcp.ack(), header, tcp.payload().len())
            }
            IpProtocol::Udp => {
                let udp = UdpPacket::new_checked(ip.payload()).ok()?;
                let (src, dst) = (udp.src_port(), udp.dst_port());
                (src, dst, false, false, 8, udp.payload().len())
            }
            _ => return None,
        };
        Some(Self {
            proto: ip.next_header(),
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            src_port,
            dst_port,
            syn,
            ack,
            payload_at: ip_header + transport_header,
            payload_len,
        })
    }

    /// A TCP SYN without ACK: the packet that opens a flow.
    pub(crate) fn is_syn(&self) -> bool {
        self.proto == IpProtocol::Tcp && self.syn && !self.ack
    }

    /// Any TCP segment with SYN set (SYN or SYN-ACK): the ones that carry an MSS.
    pub(crate) fn has_syn(&self) -> bool {
        self.proto == IpProtocol::Tcp && self.syn
    }

    /// The same flow seen from the other end: addresses and ports swapped.
    pub(crate) fn reversed(&self) -> Self {
        Self {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }
}

/// Lowers the MSS option of a SYN or SYN-ACK to `max`; returns the MSS now in it.
pub(crate) fn clamp_mss(p: &mut [u8], max: u16) -> Option<u16> {
    let mut ip = Ipv4Packet::new_checked(p).ok()?;
    let mut tcp = TcpPacket::new_checked(ip.payload_mut()).ok()?;
    let options = tcp.options_mut();
    let mut at = 0;
    while at < options.len() {
        let (len, mss) = {
            let (rest, option) = TcpOption::parse(&options[at..]).ok()?;
            let len = options.len() - at - rest.len();
            match option {
                TcpOption::EndOfList => return None,
                TcpOption::MaxSegmentSize(mss) => (len, Some(mss)),
                _ => (len, None),
            }
        };
        if let Some(mss) = mss {
            let clamped = mss.min(max);
            TcpOption::MaxSegmentSize(clamped).emit(&mut options[at..at + len]);
            return Some(clamped);
        }
        at += len;
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
    let udp = UdpRepr {
        src_port: src.1,
        dst_port: dst.1,
    };
    let udp_len = udp.header_len() + payload.len();
    let ip = Ipv4Repr {
        src_addr: src.0,
        dst_addr: dst.0,
        next_header: IpProtocol::Udp,
        payload_len: udp_len,
        hop_limit: HOP_LIMIT,
    };
    let total = ip.buffer_len() + udp_len;
    if total > BUF_SIZE || total > usize::from(u16::MAX) {
        return false;
    }
    packet.len = total;
    // No checksums (allowed for UDP over IPv4; every host ignores them).
    let caps = ChecksumCapabilities::ignored();
    let mut ip_packet = Ipv4Packet::new_unchecked(&mut packet.buf[..total]);
    ip.emit(&mut ip_packet, &caps);
    let mut udp_packet = UdpPacket::new_unchecked(ip_packet.payload_mut());
    udp.emit(
        &mut udp_packet,
        &IpAddress::Ipv4(src.0),
        &IpAddress::Ipv4(dst.0),
        payload.len(),
        |out| out.copy_from_slice(payload),
        &caps,
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_syn(mss: u16) -> Vec<u8> {
        let mut p = vec![0u8; 20 + 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&48u16.to_be_bytes());
        p[9] = 6; // TCP
        p[12..16].copy_from_slice(&[10, 0, 1, 10]);
        p[16..20].copy_from_slice(&[10, 0, 2, 20]);
        p[20..22].copy_from_slice(&32768u16.to_be_bytes());
        p[22..24].copy_from_slice(&443u16.to_be_bytes());
        p[32] = 7 << 4; // 28-byte header
        p[33] = 0x02; // SYN
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
    fn rejects_lengths_that_do_not_fit_together() {
        let mut pool = Pool::default();
        let mut pkt = pool.take(0);
        let src = (Ipv4Addr::new(10, 0, 0, 2), 53);
        let dst = (Ipv4Addr::new(10, 0, 1, 10), 32768);
        assert!(write_udp(&mut pkt, src, dst, b"hello"));
        // A UDP length beyond the datagram, and one shorter than its header.
        for udp_len in [200u16, 7] {
            let mut bad = pkt.bytes().to_vec();
            bad[24..26].copy_from_slice(&udp_len.to_be_bytes());
            assert!(Header::parse(&bad).is_none(), "UDP length {udp_len}");
        }
        // An IPv4 total length beyond the buffer, or inside the IP header.
        for total in [200u16, 12] {
            let mut bad = pkt.bytes().to_vec();
            bad[2..4].copy_from_slice(&total.to_be_bytes());
            assert!(Header::parse(&bad).is_none(), "total length {total}");
        }
        // A TCP data offset below 5 words or past the segment.
        for offset in [4u8, 15] {
            let mut bad = tcp_syn(1460);
            bad[32] = offset << 4;
            assert!(Header::parse(&bad).is_none(), "data offset {offset}");
            assert_eq!(clamp_mss(&mut bad, 1000), None);
        }
        // The UDP payload ends where the UDP length says, not at the buffer's end.
        let mut short = pkt.bytes().to_vec();
        short[24..26].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(Header::parse(&short).map(|h| h.payload_len), Some(2));
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
            (IpProtocol::Udp, src.0, 53, 32768)
        );
        assert_eq!(&pkt.bytes()[h.payload_at..], b"hello");
        pool.give(pkt);
        let again = pool.take(10);
        assert_eq!(pool.allocated(), 1, "the buffer is reused");
        assert_eq!(again.len(), 10);
    }
}
