//! Forwarding names outside the served zones to an upstream resolver: one socket for
//! every query, a bounded table of queries in flight, answers matched by ID and
//! source address, and a timeout for each.
//!
//! Only a VPC view forwards (its resolver stands for the Route 53 Resolver, which
//! resolves public names for the VPC). The public view never does, nor does a VPC
//! without DNS support: a listener open to on-premises clients must not become an
//! open reflector.
//!
//! A forwarded query goes out under a fresh random ID (so two clients that picked the
//! same ID cannot take each other's answers, and an off-path sender must guess it);
//! the answer is accepted only from the upstream's address and port, gets the
//! client's ID back and goes to the client. When the table is full, the send fails, or
//! no answer comes within [`UPSTREAM_TIMEOUT`], the client gets the REFUSED it would
//! have had without an upstream.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::ViewId;

/// How long the upstream has to answer a forwarded query.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// How many forwarded queries may wait for the upstream at once, by default (each
/// holds its query's ID and where the answer goes, about a hundred bytes).
pub const DEFAULT_UPSTREAM_IN_FLIGHT: usize = 1024;
/// How often waiting queries are checked against their timeout.
const SWEEP: Duration = Duration::from_millis(100);
/// The largest answer read from the upstream.
const MAX_ANSWER: usize = 65_535;

/// Whether queries that `view` finds outside its zones go upstream.
pub(crate) fn forwards(view: &ViewId) -> bool {
    matches!(view, ViewId::Vpc(_))
}

/// Where a forwarded query's answer goes.
pub(crate) enum ReplyTo {
    /// A UDP client, answered from the listener's socket.
    Udp {
        /// The listener's socket.
        socket: Arc<UdpSocket>,
        /// The client.
        client: SocketAddr,
    },
    /// A TCP connection waiting for the answer.
    Tcp(oneshot::Sender<Vec<u8>>),
}

impl ReplyTo {
    fn send(self, answer: Vec<u8>) {
        match self {
            Self::Udp { socket, client } => {
                let _ = socket.send_to(&answer, client);
            }
            Self::Tcp(tx) => {
                let _ = tx.send(answer);
            }
        }
    }
}

/// One query waiting for the upstream.
struct InFlight {
    client_id: u16,
    /// The REFUSED the client gets if the upstream does not answer.
    refused: Vec<u8>,
    reply: ReplyTo,
    deadline: Instant,
}

/// The upstream resolver and the queries waiting for it.
pub(crate) struct Upstream {
    addr: SocketAddr,
    socket: Arc<tokio::net::UdpSocket>,
    waiting: Mutex<HashMap<u16, InFlight>>,
    max_in_flight: usize,
    ids: RandomState,
}

impl Upstream {
    /// Binds the one socket (any local address of `addr`'s family, so the upstream may
    /// be anywhere the host can reach) and starts the task that reads answers. Must
    /// run inside a tokio runtime.
    pub(crate) fn start(
        addr: SocketAddr,
        max_in_flight: usize,
    ) -> io::Result<(Arc<Self>, tokio::task::JoinHandle<()>)> {
        let bind: SocketAddr = if addr.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        let upstream = Arc::new(Self {
            addr,
            socket: Arc::new(tokio::net::UdpSocket::from_std(socket)?),
            waiting: Mutex::new(HashMap::new()),
            max_in_flight: max_in_flight.max(1),
            ids: RandomState::new(),
        });
        let task = tokio::spawn(upstream.clone().receive());
        Ok((upstream, task))
    }

    /// How many queries wait for the upstream now.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.table().len()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u16, InFlight>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forwards `query` (a parsed query whose REFUSED answer is `refused`); the answer,
    /// or `refused`, goes to `reply`. Never blocks: a full table or a failed send
    /// answers `refused` at once.
    pub(crate) fn forward(&self, query: &[u8], refused: &[u8], reply: ReplyTo) {
        if query.len() < 12 {
            reply.send(refused.to_vec());
            return;
        }
        let client_id = u16::from_be_bytes([query[0], query[1]]);
        let id = {
            let mut table = self.table();
            if table.len() >= self.max_in_flight {
                drop(table);
                debug!(upstream = %self.addr, "too many queries in flight; REFUSED");
                reply.send(refused.to_vec());
                return;
            }
            let id = self.fresh_id(&table);
            table.insert(
                id,
                InFlight {
                    client_id,
                    refused: refused.to_vec(),
                    reply,
                    deadline: Instant::now() + UPSTREAM_TIMEOUT,
                },
            );
            id
        };
        let mut out = query.to_vec();
        out[..2].copy_from_slice(&id.to_be_bytes());
        // The socket is non-blocking: this never waits, from a thread or a task.
        if let Err(error) = socket2::SockRef::from(&*self.socket).send_to(&out, &self.addr.into()) {
            debug!(%error, upstream = %self.addr, "sending upstream failed; REFUSED");
            if let Some(waiting) = self.table().remove(&id) {
                waiting.reply.send(waiting.refused);
            }
        }
    }

    /// A random ID no waiting query uses (the table is never full here).
    fn fresh_id(&self, table: &HashMap<u16, InFlight>) -> u16 {
        let mut hasher = self.ids.build_hasher();
        hasher.write_usize(table.len());
        let mut seed = hasher.finish();
        loop {
            let id = seed as u16;
            if !table.contains_key(&id) {
                return id;
            }
            seed = seed.rotate_left(16) ^ 0x9e37_79b9_7f4a_7c15;
            seed = seed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        }
    }

    /// Reads answers and sweeps timed-out queries until the server stops.
    async fn receive(self: Arc<Self>) {
        let mut buf = vec![0u8; MAX_ANSWER];
        let mut sweep = tokio::time::interval(SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                got = self.socket.recv_from(&mut buf) => match got {
                    Ok((len, from)) => self.answer(&buf[..len], from),
                    Err(error) => {
                        warn!(%error, "receiving from the upstream failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = sweep.tick() => self.expire(Instant::now()),
            }
        }
    }

    /// Hands an answer from `from` to the query it belongs to.
    fn answer(&self, answer: &[u8], from: SocketAddr) {
        if from != self.addr || answer.len() < 12 || answer[2] & 0x80 == 0 {
            return;
        }
        let id = u16::from_be_bytes([answer[0], answer[1]]);
        let Some(waiting) = self.table().remove(&id) else {
            return;
        };
        let mut out = answer.to_vec();
        out[..2].copy_from_slice(&waiting.client_id.to_be_bytes());
        waiting.reply.send(out);
    }

    /// Answers REFUSED to every query waiting past its deadline.
    fn expire(&self, now: Instant) {
        let expired: Vec<InFlight> = {
            let mut table = self.table();
            let ids: Vec<u16> = table
                .iter()
                .filter(|(_, w)| w.deadline <= now)
                .map(|(&id, _)| id)
                .collect();
            ids.iter().filter_map(|id| table.remove(id)).collect()
        };
        if !expired.is_empty() {
            debug!(count = expired.len(), upstream = %self.addr, "upstream did not answer; REFUSED");
        }
        for waiting in expired {
            waiting.reply.send(waiting.refused);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` (one label) with ID `id`.
    fn query(id: u16, label: &str) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    }

    fn refused(query: &[u8]) -> Vec<u8> {
        let mut r = query.to_vec();
        r[2] |= 0x80;
        r[3] = (r[3] & 0xf0) | 5;
        r
    }

    async fn tcp_reply(upstream: &Upstream, q: &[u8]) -> oneshot::Receiver<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        upstream.forward(q, &refused(q), ReplyTo::Tcp(tx));
        rx
    }

    #[tokio::test]
    async fn answers_are_matched_by_id_and_source_and_get_the_clients_id_back() {
        let resolver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (upstream, task) = Upstream::start(resolver.local_addr().unwrap(), 8).unwrap();
        // Two clients that picked the same ID.
        let a = tcp_reply(&upstream, &query(7, "a")).await;
        let b = tcp_reply(&upstream, &query(7, "b")).await;
        let mut buf = [0u8; 512];
        let mut got = Vec::new();
        for _ in 0..2 {
            let (len, from) = resolver.recv_from(&mut buf).await.unwrap();
            got.push((buf[..len].to_vec(), from));
        }
        assert_ne!(
            got[0].0[..2],
            got[1].0[..2],
            "each gets its own upstream ID"
        );
        // An answer from another address, with a right ID, is ignored.
        let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let forged = refused(&got[0].0);
        stranger.send_to(&forged, got[0].1).await.unwrap();
        // The real answers, the second first.
        for (q, from) in got.iter().rev() {
            let mut answer = q.clone();
            answer[2] |= 0x80;
            answer.extend_from_slice(b"x");
            resolver.send_to(&answer, from).await.unwrap();
        }
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!(&a[..2], &7u16.to_be_bytes());
        assert_eq!(&b[..2], &7u16.to_be_bytes());
        assert_eq!(
            a[3] & 0x0f,
            0,
            "the upstream's answer, not the forged REFUSED"
        );
        assert_eq!((a[13], b[13]), (b'a', b'b'), "each its own answer");
        assert_eq!(upstream.in_flight(), 0);
        task.abort();
    }

    #[tokio::test]
    async fn a_silent_upstream_costs_a_bounded_table_and_answers_refused() {
        let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (upstream, task) = Upstream::start(silent.local_addr().unwrap(), 4).unwrap();
        let mut waiting = Vec::new();
        for i in 0..4 {
            waiting.push(tcp_reply(&upstream, &query(i, "w")).await);
        }
        assert_eq!(upstream.in_flight(), 4);
        // The fifth finds the table full: REFUSED at once, nothing more held.
        let mut fifth = tcp_reply(&upstream, &query(9, "x")).await;
        let now = fifth.try_recv().expect("answered at once");
        assert_eq!((&now[..2], now[3] & 0x0f), (&9u16.to_be_bytes()[..], 5));
        assert_eq!(upstream.in_flight(), 4);
        // Past the timeout every waiting query gets REFUSED and the table empties.
        upstream.expire(Instant::now() + UPSTREAM_TIMEOUT);
        for (i, rx) in waiting.into_iter().enumerate() {
            let r = rx.await.unwrap();
            assert_eq!((&r[..2], r[3] & 0x0f), (&(i as u16).to_be_bytes()[..], 5));
        }
        assert_eq!(upstream.in_flight(), 0);
        task.abort();
    }

    #[test]
    fn only_vpc_views_forward() {
        assert!(forwards(&ViewId::Vpc("main".into())));
        assert!(!forwards(&ViewId::Public));
    }
}
