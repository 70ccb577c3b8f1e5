//! What a client can make the forwarder hold, bounded: descriptors, held connections,
//! buffer bytes, connections per listener.
//!
//! A [`Budget`] is a count with a ceiling that tasks take units from and give back when
//! their [`Permit`] drops (connections of a listener, descriptors, buffer bytes). The
//! [`HeldSet`] keeps the dropped connections being held silent, oldest first, so that a
//! new one past its budget, or a connection that needs a descriptor when none is left,
//! closes the oldest instead of failing: an attacker's old connections make room for
//! anyone's new ones.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// A count with a ceiling, shared by tasks.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    /// A budget of `limit` units, none taken.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    /// Units taken now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The ceiling.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    fn reserve(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }
}

/// Units of a [`Budget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    budget: &'a Budget,
    n: usize,
}

impl Permit<'_> {
    /// An empty permit that can [`grow`](Self::grow).
    pub(crate) fn empty(budget: &Budget) -> Permit<'_> {
        Permit { budget, n: 0 }
    }

    /// Takes `more` units if they fit; the permit then holds them too.
    pub(crate) fn grow(&mut self, more: usize) -> bool {
        let ok = self.budget.reserve(more);
        if ok {
            self.n += more;
        }
        ok
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.n, Ordering::AcqRel);
    }
}

/// The process's descriptor limit (`RLIMIT_NOFILE`, soft), if it can be read.
pub(crate) fn descriptor_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass and has no other effect.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
        (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY)
            .then(|| usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// How many descriptors the forwarder's sockets may take: the process's limit less
/// `reserve` (kept for DNS, the API, the flow log and the runtime), but never less than
/// half the limit; unbounded where the limit is unknown.
pub(crate) fn descriptor_budget(limit: Option<usize>, reserve: usize) -> usize {
    match limit {
        Some(limit) => limit.saturating_sub(reserve).max(limit / 2),
        None => usize::MAX,
    }
}

/// The dropped connections being held silent, oldest first, at most `limit`.
#[derive(Debug)]
pub(crate) struct HeldSet {
    limit: usize,
    inner: Mutex<Held>,
    evicted: AtomicU64,
}

#[derive(Debug, Default)]
struct Held {
    next: u64,
    /// Registration order -> the signal that closes that connection.
    waiting: BTreeMap<u64, oneshot::Sender<()>>,
}

/// One held connection's place in the [`HeldSet`]: [`evicted`](Self::evicted) resolves
/// when it must close to make room; dropping it leaves the set.
#[derive(Debug)]
pub(crate) struct HeldSlot<'a> {
    set: &'a HeldSet,
    id: u64,
    evict: Option<oneshot::Receiver<()>>,
}

impl HeldSet {
    /// A set that holds at most `limit` connections.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            inner: Mutex::new(Held::default()),
            evicted: AtomicU64::new(0),
        }
    }

    /// Adds a connection; past the limit, the oldest ones are told to close.
    pub(crate) fn enter(&self) -> HeldSlot<'_> {
        let (tx, rx) = oneshot::channel();
        let mut held = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let id = held.next;
        held.next += 1;
        held.waiting.insert(id, tx);
        while held.waiting.len() > self.limit {
            let Some((_, oldest)) = held.waiting.pop_first() else {
                break;
            };
            let _ = oldest.send(());
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        HeldSlot {
            set: self,
            id,
            evict: Some(rx),
        }
    }

    /// Tells the oldest held connection to close (its descriptor is needed); false if
    /// none is held.
    pub(crate) fn evict_oldest(&self) -> bool {
        let oldest = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting
            .pop_first();
        let evicted = oldest.is_some_and(|(_, tx)| tx.send(()).is_ok());
        if evicted {
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        evicted
    }

    /// How many connections are held now.
    pub(crate) fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting
            .len()
    }

    /// How many were closed to make room, in all.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

impl HeldSlot<'_> {
    /// Resolves when this connection is evicted (never, once it has been).
    pub(crate) async fn evicted(&mut self) {
        match self.evict.as_mut() {
            Some(rx) => {
                // A dropped sender means the slot left the set some other way: wait on.
                if rx.await.is_err() {
                    std::future::pending::<()>().await;
                }
                self.evict = None;
            }
            None => std::future::pending::<()>().await,
        }
    }
}

impl Drop for HeldSlot<'_> {
    fn drop(&mut self) {
        self.set
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting
            .remove(&self.id);
    }
}

/// A [`Budget`] shared by a listener's task and its connections' tasks.
pub(crate) type SharedBudget = Arc<Budget>;

/// Units of a [`SharedBudget`], owned (movable into a spawned task).
#[derive(Debug)]
pub(crate) struct OwnedPermit {
    budget: SharedBudget,
}

impl OwnedPermit {
    /// Takes one unit of `budget` if it fits.
    pub(crate) fn try_take(budget: &SharedBudget) -> Option<Self> {
        budget.reserve(1).then(|| Self {
            budget: Arc::clone(budget),
        })
    }

    /// Takes one unit even past the ceiling (an eviction is freeing room).
    pub(crate) fn force_take(budget: &SharedBudget) -> Self {
        budget.used.fetch_add(1, Ordering::AcqRel);
        Self {
            budget: Arc::clone(budget),
        }
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_past_its_ceiling_and_gets_units_back_on_drop() {
        let budget = Budget::new(3);
        let mut a = Permit::empty(&budget);
        assert!(a.grow(2));
        let mut b = Permit::empty(&budget);
        assert!(!b.grow(2));
        assert!(b.grow(1));
        assert_eq!(budget.used(), 3);
        drop(a);
        assert!(b.grow(2));
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn owned_permits_count_against_the_shared_budget() {
        let budget: SharedBudget = Arc::new(Budget::new(1));
        let one = OwnedPermit::try_take(&budget).expect("fits");
        assert!(OwnedPermit::try_take(&budget).is_none());
        let forced = OwnedPermit::force_take(&budget);
        assert_eq!(budget.used(), 2);
        drop((one, forced));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn the_descriptor_budget_keeps_the_reserve_but_at_least_half() {
        assert_eq!(descriptor_budget(Some(8192), 256), 7936);
        assert_eq!(descriptor_budget(Some(256), 256), 128);
        assert_eq!(descriptor_budget(None, 256), usize::MAX);
    }

    #[tokio::test]
    async fn past_the_budget_the_oldest_held_connection_is_evicted_first() {
        let set = HeldSet::new(2);
        let mut first = set.enter();
        let mut second = set.enter();
        assert_eq!(set.len(), 2);
        let mut third = set.enter();
        assert_eq!(set.len(), 2);
        assert_eq!(set.evicted(), 1);
        let soon = std::time::Duration::from_millis(50);
        tokio::time::timeout(soon, first.evicted())
            .await
            .expect("the oldest is told to close");
        assert!(
            tokio::time::timeout(soon, second.evicted()).await.is_err(),
            "the second stays"
        );
        // Descriptor pressure takes the oldest of those left.
        assert!(set.evict_oldest());
        tokio::time::timeout(soon, second.evicted())
            .await
            .expect("the second is next");
        assert!(tokio::time::timeout(soon, third.evicted()).await.is_err());
        drop(third);
        assert_eq!(set.len(), 0);
        assert!(!set.evict_oldest(), "nothing left to evict");
    }
}
