//! The fabric's event queue: packet arrivals ordered by (time, sequence), so packets
//! due at the same instant arrive in the order they were sent.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;

use super::packet::Packet;

/// A packet that arrives at host `host` at time `at`.
#[derive(Debug)]
pub(crate) struct Arrival {
    pub(crate) at: Duration,
    seq: u64,
    pub(crate) host: usize,
    pub(crate) packet: Packet,
}

impl PartialEq for Arrival {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Arrival {}

impl PartialOrd for Arrival {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Arrival {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Pending arrivals, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Events {
    heap: BinaryHeap<Reverse<Arrival>>,
    seq: u64,
}

impl Events {
    /// Schedules `packet` to arrive at `host` at `at`.
    pub(crate) fn push(&mut self, at: Duration, host: usize, packet: Packet) {
        self.seq += 1;
        self.heap.push(Reverse(Arrival {
            at,
            seq: self.seq,
            host,
            packet,
        }));
    }

    /// When the next arrival is due.
    pub(crate) fn next_at(&self) -> Option<Duration> {
        self.heap.peek().map(|Reverse(a)| a.at)
    }

    /// The next arrival if it is due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<Arrival> {
        if self.next_at()? <= now {
            self.heap.pop().map(|Reverse(a)| a)
        } else {
            None
        }
    }

    /// Removes every pending arrival, returning their packets.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Packet> + '_ {
        self.heap.drain().map(|Reverse(a)| a.packet)
    }

    /// How many arrivals are pending.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::Pool;
    use super::*;

    #[test]
    fn same_time_arrivals_keep_send_order() {
        let mut pool = Pool::default();
        let mut ev = Events::default();
        let t = Duration::from_micros(50);
        ev.push(t, 1, pool.take(1));
        ev.push(Duration::from_micros(10), 9, pool.take(9));
        ev.push(t, 2, pool.take(2));
        ev.push(t, 3, pool.take(3));
        assert_eq!(ev.next_at(), Some(Duration::from_micros(10)));
        assert!(ev.pop_due(Duration::from_micros(5)).is_none());
        let order: Vec<usize> = std::iter::from_fn(|| ev.pop_due(t))
            .map(|a| a.host)
            .collect();
        assert_eq!(order, vec![9, 1, 2, 3]);
        assert_eq!(ev.len(), 0);
    }
}
