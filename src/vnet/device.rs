//! The smoltcp device of a host: a receive queue the fabric fills, a transmit queue the
//! fabric drains, and buffers from the fabric's shared pool.
//!
//! Checksums are declared ignored: the fabric carries bytes in memory and never
//! corrupts them, and computing them would halve smoltcp's throughput (as measured when
//! the fabric was written).

use std::cell::RefCell;
use std::collections::VecDeque;

use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use super::packet::{Packet, Pool};

/// A borrowed view of one host's queues and the shared pool, built for each poll.
pub(crate) struct HostDevice<'a> {
    pub(crate) rx: &'a mut VecDeque<Packet>,
    pub(crate) tx: &'a mut Vec<Packet>,
    pub(crate) pool: &'a RefCell<Pool>,
    pub(crate) mtu: usize,
}

/// Hands one received packet to smoltcp, then returns its buffer to the pool.
pub(crate) struct Rx<'a> {
    packet: Packet,
    pool: &'a RefCell<Pool>,
}

/// Takes a buffer from the pool for smoltcp to write one packet into.
pub(crate) struct Tx<'a> {
    tx: &'a mut Vec<Packet>,
    pool: &'a RefCell<Pool>,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(self.packet.bytes());
        self.pool.borrow_mut().give(self.packet);
        r
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = self.pool.borrow_mut().take(len);
        let r = f(packet.bytes_mut());
        self.tx.push(packet);
        r
    }
}

impl phy::Device for HostDevice<'_> {
    type RxToken<'b>
        = Rx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = Tx<'b>
    where
        Self: 'b;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let packet = self.rx.pop_front()?;
        Some((
            Rx {
                packet,
                pool: self.pool,
            },
            Tx {
                tx: self.tx,
                pool: self.pool,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        Some(Tx {
            tx: self.tx,
            pool: self.pool,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps.checksum = ChecksumCapabilities::ignored();
        caps
    }
}
