//! The token buckets of the forwarder: the policy core's [`BucketTable`] (the same one
//! the virtual network keeps), one bucket per (endpoint, AZ ID, direction), shared by
//! every flow of that endpoint in that AZ, found once per flow.
//!
//! A flow looks its pair of buckets up once and then locks only the bucket of its
//! direction: no strings allocated and no table-wide lock per reservation. A new
//! bandwidth ([`Meters::set_bandwidth`]) replaces every bucket, live flows' too: each
//! reservation checks an epoch and looks its bucket up again when it moved.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use crate::model::Bandwidth;
use crate::policy::{BucketTable, FlowDirection, TokenBucket};

/// Both directions' buckets of one endpoint in one AZ, each locked on its own.
type Pair = Arc<[Mutex<TokenBucket>; 2]>;

/// Every bucket of one `serve`.
pub(crate) struct Meters {
    start: Instant,
    epoch: AtomicU64,
    table: Mutex<BucketTable<Pair>>,
}

impl Meters {
    /// Buckets at `bandwidth`, created full on first use; time counts from `start`.
    pub(crate) fn new(bandwidth: Bandwidth, start: Instant) -> Self {
        Self {
            start,
            epoch: AtomicU64::new(0),
            table: Mutex::new(BucketTable::new(bandwidth)),
        }
    }

    /// Replaces every bucket (a new topology's `[bandwidth]`); they start full.
    pub(crate) fn set_bandwidth(&self, bandwidth: Bandwidth) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.reset(bandwidth);
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// The buckets of (`endpoint`, `az_id`) and the epoch they belong to.
    fn pair(&self, endpoint: &str, az_id: &str) -> (u64, Pair) {
        let now = self.start.elapsed();
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        // Read under the lock: `set_bandwidth` moves it under the same lock.
        let epoch = self.epoch.load(Ordering::Acquire);
        let (_, pair) = table.pair(endpoint, az_id, now, |[to, from]| {
            Arc::new([Mutex::new(to), Mutex::new(from)])
        });
        (epoch, Arc::clone(pair))
    }

    /// The pacer of one direction of a flow to `endpoint` in `az_id`.
    pub(crate) fn pacer<'a>(
        &'a self,
        endpoint: &'a str,
        az_id: &'a str,
        dir: FlowDirection,
    ) -> Pacer<'a> {
        let (epoch, pair) = self.pair(endpoint, az_id);
        Pacer {
            meters: self,
            endpoint,
            az_id,
            dir,
            epoch,
            pair,
        }
    }
}

/// Reserves bytes of one direction of one flow and waits until they may go.
pub(crate) struct Pacer<'a> {
    meters: &'a Meters,
    endpoint: &'a str,
    az_id: &'a str,
    dir: FlowDirection,
    epoch: u64,
    pair: Pair,
}

impl Pacer<'_> {
    /// Reserves `bytes` and sleeps until the bucket allows them.
    pub(crate) async fn pace(&mut self, bytes: u64) {
        if self.meters.epoch.load(Ordering::Acquire) != self.epoch {
            (self.epoch, self.pair) = self.meters.pair(self.endpoint, self.az_id);
        }
        let now = self.meters.start.elapsed();
        let at = self.pair[self.dir.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reserve(now, bytes);
        if at > now {
            match self.meters.start.checked_add(at) {
                Some(at) => tokio::time::sleep_until(at).await,
                // Later than any clock can say: the bytes never go.
                None => std::future::pending().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meters() -> Meters {
        // 1 Gbit/s, 8 Mbit (1 MB) burst.
        let bandwidth = Bandwidth {
            per_az_gbps: 1.0,
            burst_mbit: 8.0,
        };
        Meters::new(bandwidth, Instant::now())
    }

    fn available(p: &Pacer<'_>, index: usize) -> u64 {
        let now = p.meters.start.elapsed();
        p.pair[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .available(now)
    }

    #[tokio::test]
    async fn flows_of_one_endpoint_share_a_bucket_per_direction() {
        let meters = meters();
        let mut a = meters.pacer("ep", "use1-az1", FlowDirection::ToService);
        let b = meters.pacer("ep", "use1-az1", FlowDirection::ToService);
        let down = meters.pacer("ep", "use1-az1", FlowDirection::FromService);
        let other = meters.pacer("ep", "use1-az2", FlowDirection::ToService);
        assert!(Arc::ptr_eq(&a.pair, &b.pair) && Arc::ptr_eq(&a.pair, &down.pair));
        assert!(!Arc::ptr_eq(&a.pair, &other.pair));
        a.pace(900_000).await;
        // What `a` took is gone for `b`, not for the other direction or AZ (refill
        // during the test stays far below 800 kB).
        assert!(available(&b, 0) < 200_000, "{}", available(&b, 0));
        assert_eq!(available(&down, 1), 1_000_000);
        assert_eq!(available(&other, 0), 1_000_000);
    }

    #[tokio::test]
    async fn a_new_bandwidth_reaches_live_flows() {
        let meters = meters();
        let mut p = meters.pacer("ep", "use1-az1", FlowDirection::ToService);
        let old = Arc::clone(&p.pair);
        p.pace(900_000).await;
        meters.set_bandwidth(Bandwidth {
            per_az_gbps: 1.0,
            burst_mbit: 8.0,
        });
        // The next reservation goes to a fresh, full bucket.
        p.pace(100_000).await;
        assert!(!Arc::ptr_eq(&old, &p.pair));
        assert!(available(&p, 0) >= 900_000);
        assert!(available(&p, 0) < 1_000_000);
    }
}
