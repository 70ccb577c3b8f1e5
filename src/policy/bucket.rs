//! Token buckets per endpoint, per AZ, per direction (docs/behaviour.md §6), and
//! [`BucketTable`], the one table of them that the forwarder (on wall time) and the
//! virtual network (on simulated time) both keep.
//!
//! Exact integer arithmetic: the level is kept in bit-nanoseconds per second (bits ×
//! 10⁹), so that `rate` bits/s refills exactly `rate` units per nanosecond and no clock
//! granularity loses or invents a token. Reservations that exceed the level put the bucket
//! in debt: later ones queue behind them, and no byte is ever dropped.

use std::time::Duration;

use indexmap::{Equivalent, IndexMap};

use crate::model::Bandwidth;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A token bucket: rate in bits/s, size in bits, full at start.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Bits per second (at least 1).
    rate: i128,
    /// The size, in bits × 10⁹.
    capacity: i128,
    /// The level at `last`, in bits × 10⁹; negative while reservations wait.
    level: i128,
    /// When `level` was last brought up to date, in ns.
    last: i128,
}

fn nanos(d: Duration) -> i128 {
    d.as_nanos() as i128
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate_bits_per_sec: u64, burst_bits: u64, now: Duration) -> Self {
        let capacity = i128::from(burst_bits) * NANOS_PER_SEC;
        Self {
            rate: i128::from(rate_bits_per_sec.max(1)),
            capacity,
            level: capacity,
            last: nanos(now),
        }
    }

    /// The level at `now` (never earlier than the last update).
    fn level_at(&self, now: i128) -> (i128, i128) {
        let now = now.max(self.last);
        let refill = self.rate.saturating_mul(now - self.last);
        (self.level.saturating_add(refill).min(self.capacity), now)
    }

    /// Reserves `bytes`; returns when they may be sent (now, or later when the bucket must
    /// refill). Bytes are never dropped: reservations queue up.
    pub fn reserve(&mut self, now: Duration, bytes: u64) -> Duration {
        let (level, now) = self.level_at(nanos(now));
        let cost = i128::from(bytes) * 8 * NANOS_PER_SEC;
        // Saturating: a debt past i128 (about 10^19 reservations of 2^64 bytes) stays
        // the largest debt instead of wrapping into credit.
        self.level = level.saturating_sub(cost);
        self.last = now;
        let wait = if self.level >= 0 {
            0
        } else {
            // ceil(debt / rate) nanoseconds until the level is back at zero.
            self.level.saturating_neg().saturating_add(self.rate - 1) / self.rate
        };
        let at = now.saturating_add(wait);
        match u64::try_from(at / NANOS_PER_SEC) {
            Ok(secs) => Duration::new(secs, (at % NANOS_PER_SEC) as u32),
            Err(_) => Duration::MAX,
        }
    }

    /// How many bytes could go at `now` without waiting.
    pub fn available(&self, now: Duration) -> u64 {
        let (level, _) = self.level_at(nanos(now));
        u64::try_from(level.max(0) / (8 * NANOS_PER_SEC)).unwrap_or(u64::MAX)
    }
}

/// Which way a flow's bytes go through the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowDirection {
    /// Consumer to service (upload).
    ToService,
    /// Service to consumer (download).
    FromService,
}

impl FlowDirection {
    /// The position of this direction's bucket in a [`BucketPair`].
    pub fn index(self) -> usize {
        match self {
            Self::ToService => 0,
            Self::FromService => 1,
        }
    }
}

/// Both directions' buckets of one endpoint in one AZ, indexed by
/// [`FlowDirection::index`].
pub type BucketPair = [TokenBucket; 2];

/// The buckets of every (endpoint, AZ ID) at one bandwidth: one [`BucketPair`] each,
/// created full on first use and shared by every flow of that endpoint in that AZ.
///
/// `P` is how a user holds a pair: the virtual network keeps the plain [`BucketPair`]
/// (one thread, simulated time), the forwarder wraps it for sharing between tasks. A
/// pair keeps its index until [`BucketTable::reset`], so a flow can find its pair once
/// and then reach it by index, and a lookup by `&str` allocates nothing.
#[derive(Debug, Clone)]
pub struct BucketTable<P = BucketPair> {
    bandwidth: Bandwidth,
    rate: u64,
    burst: u64,
    pairs: IndexMap<(String, String), P>,
}

/// (endpoint, AZ ID) borrowed: hashes as the owned key does, so lookups do not allocate.
#[derive(Hash)]
struct KeyRef<'a>(&'a str, &'a str);

impl Equivalent<(String, String)> for KeyRef<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

impl<P> BucketTable<P> {
    /// An empty table whose buckets get the rate and size of `bandwidth`.
    pub fn new(bandwidth: Bandwidth) -> Self {
        let (rate, burst) = bucket_limits(bandwidth);
        Self {
            bandwidth,
            rate,
            burst,
            pairs: IndexMap::new(),
        }
    }

    /// The bandwidth the buckets were made for.
    pub fn bandwidth(&self) -> Bandwidth {
        self.bandwidth
    }

    /// Forgets every bucket; new ones get `bandwidth` and start full.
    pub fn reset(&mut self, bandwidth: Bandwidth) {
        *self = Self::new(bandwidth);
    }

    /// The index and pair of (`endpoint`, `az_id`); a missing pair is made full at
    /// `now` and handed to `hold` to become a `P`.
    pub fn pair(
        &mut self,
        endpoint: &str,
        az_id: &str,
        now: Duration,
        hold: impl FnOnce(BucketPair) -> P,
    ) -> (usize, &mut P) {
        let key = KeyRef(endpoint, az_id);
        let index = match self.pairs.get_index_of(&key) {
            Some(index) => index,
            None => {
                let bucket = || TokenBucket::new(self.rate, self.burst, now);
                let pair = hold([bucket(), bucket()]);
                let (index, _) = self
                    .pairs
                    .insert_full((endpoint.to_string(), az_id.to_string()), pair);
                index
            }
        };
        (index, &mut self.pairs[index])
    }

    /// The pair at `index` (as [`Self::pair`] gave it, before the last reset).
    pub fn get_mut(&mut self, index: usize) -> Option<&mut P> {
        self.pairs.get_index_mut(index).map(|(_, pair)| pair)
    }

    /// How many pairs exist.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no pair exists yet.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// The rate in bits/s and size in bits of every bucket at `bandwidth`. There is one
/// bucket per (endpoint, AZ ID, direction), shared by every flow of that endpoint in
/// that AZ; both users keep them in a [`BucketTable`].
pub fn bucket_limits(bandwidth: Bandwidth) -> (u64, u64) {
    // `as` saturates: an absurdly large rate means "unlimited".
    let rate = (bandwidth.per_az_gbps * 1e9).round() as u64;
    let burst = (bandwidth.burst_mbit * 1e6).round() as u64;
    (rate, burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The GCRA form of the same bucket, written independently: a theoretical arrival
    /// time in scaled units (ns × rate) instead of a level.
    struct Gcra {
        rate: u128,
        cap: u128,
        tat: u128,
    }

    impl Gcra {
        fn new(rate: u64, burst: u64, t0: u128) -> Self {
            let rate = u128::from(rate.max(1));
            Self {
                rate,
                cap: u128::from(burst) * 1_000_000_000,
                tat: t0 * rate,
            }
        }

        fn reserve(&mut self, now: u128, bytes: u64) -> u128 {
            let now_s = now * self.rate;
            self.tat = self.tat.max(now_s) + u128::from(bytes) * 8 * 1_000_000_000;
            let send = now_s.max(self.tat.saturating_sub(self.cap));
            send.div_ceil(self.rate)
        }
    }

    #[test]
    fn back_to_back_reservations_follow_the_exact_formula() {
        // 1 Gbit/s, 1 Mbit bucket, 100 kB (800 kbit) each at t=0: the k-th (from 1) may
        // go at ceil((k * 800 kbit - 1 Mbit) / 1 Gbit/s), or at once while it fits.
        let mut b = TokenBucket::new(1_000_000_000, 1_000_000, Duration::ZERO);
        for k in 1..=50u64 {
            let at = b.reserve(Duration::ZERO, 100_000);
            let bits = (k * 800_000).saturating_sub(1_000_000);
            let expect_ns = (u128::from(bits) * 1_000_000_000).div_ceil(1_000_000_000);
            assert_eq!(at.as_nanos(), expect_ns, "k={k}");
        }
    }

    #[test]
    fn full_at_start_and_refills_to_its_size_only() {
        let mut b = TokenBucket::new(8_000, 80_000, Duration::from_secs(5));
        assert_eq!(b.available(Duration::from_secs(5)), 10_000);
        assert_eq!(
            b.reserve(Duration::from_secs(5), 10_000),
            Duration::from_secs(5)
        );
        assert_eq!(b.available(Duration::from_secs(5)), 0);
        // 1000 bytes per second.
        assert_eq!(b.available(Duration::from_millis(6_500)), 1_500);
        assert_eq!(b.available(Duration::from_secs(3_600)), 10_000);
        // In debt: 2,000 bytes more than there is, at 1,000 B/s.
        assert_eq!(
            b.reserve(Duration::from_secs(5), 2_000),
            Duration::from_secs(7)
        );
        assert_eq!(b.available(Duration::from_secs(7)), 0);
        assert_eq!(b.available(Duration::from_secs(8)), 1_000);
    }

    #[test]
    fn a_table_keeps_one_pair_per_endpoint_and_az() {
        let bw = Bandwidth {
            per_az_gbps: 0.000_008,
            burst_mbit: 0.008,
        }; // 1000 B/s, 1000 B
        let mut table: BucketTable = BucketTable::new(bw);
        let t0 = Duration::ZERO;
        let (a, pair) = table.pair("ep", "az1", t0, |p| p);
        assert_eq!(pair[FlowDirection::ToService.index()].available(t0), 1_000);
        pair[FlowDirection::ToService.index()].reserve(t0, 600);
        let (again, pair) = table.pair("ep", "az1", t0, |_| unreachable!("exists"));
        assert_eq!(again, a);
        assert_eq!(pair[0].available(t0), 400, "the same bucket");
        assert_eq!(pair[1].available(t0), 1_000, "the other direction's own");
        let (b, _) = table.pair("ep", "az2", t0, |p| p);
        let (c, _) = table.pair("ep2", "az1", t0, |p| p);
        assert!(a != b && b != c && a != c);
        assert_eq!(table.len(), 3);
        assert_eq!(table.get_mut(a).map(|p| p[0].available(t0)), Some(400));
        // A reset forgets every pair; new ones start full at the new bandwidth.
        let wider = Bandwidth {
            per_az_gbps: 0.000_016,
            burst_mbit: 0.016,
        };
        table.reset(wider);
        assert!(table.is_empty() && table.get_mut(a).is_none());
        assert_eq!(table.bandwidth(), wider);
        let (_, pair) = table.pair("ep", "az1", t0, |p| p);
        assert_eq!(pair[0].available(t0), 2_000);
    }

    #[test]
    fn huge_debts_saturate_instead_of_wrapping() {
        let mut b = TokenBucket::new(1, 0, Duration::ZERO);
        for _ in 0..4 {
            assert_eq!(b.reserve(Duration::ZERO, u64::MAX), Duration::MAX);
        }
        let mut b = TokenBucket::new(1, 0, Duration::MAX);
        assert_eq!(b.reserve(Duration::MAX, 1), Duration::MAX);
    }

    #[test]
    fn limits_come_from_the_bandwidth_in_bits() {
        let bw = Bandwidth {
            per_az_gbps: 0.000_008,
            burst_mbit: 0.008,
        }; // 8 kbit/s, 8 kbit
        assert_eq!(bucket_limits(bw), (8_000, 8_000));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn equals_the_gcra_form_on_any_clock(
            rate in 1u64..20_000_000_000,
            burst in 0u64..2_000_000_000,
            t0 in 0u64..1_000_000,
            steps in prop::collection::vec((0u64..50_000_000, 0u64..10_000_000), 1..60),
        ) {
            let mut bucket = TokenBucket::new(rate, burst, Duration::from_nanos(t0));
            let mut gcra = Gcra::new(rate, burst, u128::from(t0));
            let mut now = t0;
            for (dt, bytes) in steps {
                now += dt;
                let at = bucket.reserve(Duration::from_nanos(now), bytes);
                prop_assert_eq!(at.as_nanos(), gcra.reserve(u128::from(now), bytes));
                prop_assert!(at.as_nanos() >= u128::from(now));
            }
        }

        #[test]
        fn never_sends_more_than_size_plus_rate_times_time(
            rate in 1_000u64..10_000_000_000,
            burst in 0u64..100_000_000,
            steps in prop::collection::vec((0u64..5_000_000, 1u64..2_000_000), 1..40),
        ) {
            // Arrival curve: bits sent in [S_i, S_j] <= burst + rate * (S_j - S_i) (+ 1 ns
            // rounding), where a single reservation larger than the bucket counts as its size.
            let mut bucket = TokenBucket::new(rate, burst, Duration::ZERO);
            let mut now = 0u64;
            let mut sent: Vec<(u128, u128)> = Vec::new();
            for (dt, bytes) in steps {
                now += dt;
                let at = bucket.reserve(Duration::from_nanos(now), bytes).as_nanos();
                sent.push((at, u128::from(bytes) * 8));
            }
            for i in 0..sent.len() {
                let mut bits = 0u128;
                for j in i..sent.len() {
                    bits += sent[j].1;
                    let span = sent[j].0.saturating_sub(sent[i].0);
                    let size = u128::from(burst).max(sent[i].1);
                    let allowance = size * 1_000_000_000 + u128::from(rate) * span;
                    prop_assert!(bits * 1_000_000_000 <= allowance + u128::from(rate) * 2,
                        "bits {} in {} ns", bits, span);
                }
            }
        }
    }
}
