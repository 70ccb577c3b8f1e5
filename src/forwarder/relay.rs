//! Moving bytes both ways, paced by the endpoint's token buckets, half-close respected.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::backend::BackendConn;
use crate::policy::{BlockedBy, Buckets, FlowDirection};

/// Reserves bytes in the buckets of one endpoint in one AZ and waits until they may go.
pub(crate) struct Pacer {
    pub(crate) buckets: Arc<Mutex<Buckets>>,
    pub(crate) start: Instant,
    pub(crate) endpoint: String,
    pub(crate) az_id: String,
}

impl Pacer {
    async fn pace(&self, dir: FlowDirection, bytes: u64) {
        let now = self.start.elapsed();
        let at = self
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reserve(&self.endpoint, &self.az_id, dir, now, bytes);
        if at > now {
            tokio::time::sleep_until(self.start + at).await;
        }
    }
}

/// Payload bytes moved, per direction.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) up: AtomicU64,
    pub(crate) down: AtomicU64,
}

/// How a relay ended.
pub(crate) enum Ended {
    /// Both sides closed (or one reset).
    Closed,
    /// A new policy no longer admits the flow.
    Cut(BlockedBy),
}

/// The first buffer of each direction of a flow.
const INITIAL_BUFFER: usize = 16 * 1024;

/// Copies `r` to `w` until end of stream, then half-closes `w`.
async fn pump<R, W>(
    mut r: R,
    mut w: W,
    pacer: &Pacer,
    dir: FlowDirection,
    count: &AtomicU64,
    buffer: usize,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Start small: most flows are short, and a large buffer per direction costs a page
    // mapping per connection. Grow while reads fill it, up to `buffer`.
    let mut buf = vec![0u8; INITIAL_BUFFER.min(buffer)];
    loop {
        let n = r.read(&mut buf).await?;
        if n == buf.len() && n < buffer {
            buf.resize((2 * n).min(buffer), 0);
        }
        if n == 0 {
            // The other side may be gone already; the flow ends either way.
            let _ = w.shutdown().await;
            return Ok(());
        }
        pacer.pace(dir, n as u64).await;
        w.write_all(&buf[..n]).await?;
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Waits until the flow is cut (never, if the registry drops its sender).
async fn cut(mut rx: watch::Receiver<Option<BlockedBy>>) -> BlockedBy {
    loop {
        if let Some(reason) = rx.borrow_and_update().clone() {
            return reason;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Relays `client` and `backend` both ways until both close, one fails, or the flow is cut.
pub(crate) async fn relay(
    client: &mut TcpStream,
    backend: BackendConn,
    pacer: &Pacer,
    counters: &Counters,
    buffer: usize,
    cut_rx: watch::Receiver<Option<BlockedBy>>,
) -> Ended {
    let (cr, cw) = client.split();
    let (up, down) = (FlowDirection::ToService, FlowDirection::FromService);
    match backend {
        BackendConn::Tcp(mut stream) => {
            let (br, bw) = stream.split();
            tokio::select! {
                _ = async {
                    tokio::try_join!(
                        pump(cr, bw, pacer, up, &counters.up, buffer),
                        pump(br, cw, pacer, down, &counters.down, buffer),
                    )
                } => Ended::Closed,
                reason = cut(cut_rx) => Ended::Cut(reason),
            }
        }
        BackendConn::Local(stream) => {
            let (br, bw) = tokio::io::split(stream);
            tokio::select! {
                _ = async {
                    tokio::try_join!(
                        pump(cr, bw, pacer, up, &counters.up, buffer),
                        pump(br, cw, pacer, down, &counters.down, buffer),
                    )
                } => Ended::Closed,
                reason = cut(cut_rx) => Ended::Cut(reason),
            }
        }
    }
}
