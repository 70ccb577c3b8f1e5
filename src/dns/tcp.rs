//! DNS over TCP (RFC 7766): our own accept loop and connections, answering with the
//! snapshot's bytes as they are, through the same `answer_into` as UDP.
//!
//! - A semaphore bounds the open connections of a listener; at the bound the loop
//!   stops accepting (new connections wait in the kernel's backlog) until one closes.
//! - An accept that fails for lack of descriptors or memory (`EMFILE`, `ENFILE`,
//!   `ENOBUFS`, `ENOMEM`) backs off, 1 ms doubling up to 1 s, instead of spinning.
//! - A connection answers its queries in order and closes after [`TCP_IDLE`] without a
//!   complete query.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot, watch};
use tracing::{debug, warn};

use super::upstream::{ReplyTo, Upstream, forwards};
use super::{DnsHandle, Outcome, ViewId};

/// How long a connection may wait for the next complete query.
pub const TCP_IDLE: Duration = Duration::from_secs(10);
/// How many TCP connections one listener keeps open at once, by default.
pub const DEFAULT_TCP_CONNECTIONS: usize = 1024;
/// The longest back-off after an accept failed for lack of resources.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What every connection of one listener shares.
pub(crate) struct TcpContext {
    pub(crate) handle: Arc<DnsHandle>,
    pub(crate) view: ViewId,
    pub(crate) upstream: Option<Arc<Upstream>>,
}

/// Whether an accept error means the process is out of a resource (wait, then retry)
/// rather than one connection's trouble (retry at once).
fn out_of_resources(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Accepts connections on `listener` until `stop` turns true.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    context: Arc<TcpContext>,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut backoff = Duration::from_millis(1);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(1);
                let (context, stop) = (context.clone(), stop.clone());
                tokio::spawn(async move {
                    if let Err(error) = serve(stream, &context, stop).await {
                        debug!(%error, %peer, "DNS TCP connection ended");
                    }
                    drop(permit);
                });
            }
            Err(error) if out_of_resources(&error) => {
                warn!(%error, ?backoff, "DNS TCP accept failed; backing off");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(error) => debug!(%error, "DNS TCP accept failed"),
        }
    }
}

/// Reads length-prefixed queries and writes the answers, until the client closes,
/// stays idle for [`TCP_IDLE`], or the server stops.
async fn serve(
    mut stream: TcpStream,
    context: &TcpContext,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut query = Vec::with_capacity(512);
    let mut out = Vec::with_capacity(512);
    loop {
        let read = tokio::select! {
            read = tokio::time::timeout(TCP_IDLE, read_message(&mut stream, &mut query)) => read,
            _ = stop.changed() => return Ok(()),
        };
        match read {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) | Err(_) => return Ok(()),
            Ok(Err(error)) => return Err(error),
        }
        if !answer(context, &query, &mut out).await {
            continue;
        }
        let len = u16::try_from(out.len()).unwrap_or(u16::MAX);
        let mut message = Vec::with_capacity(out.len() + 2);
        message.extend_from_slice(&len.to_be_bytes());
        message.extend_from_slice(&out[..usize::from(len)]);
        stream.write_all(&message).await?;
    }
}

/// Reads one length-prefixed message into `buf`; false at a clean end of stream.
async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    buf.resize(usize::from(u16::from_be_bytes(len)), 0);
    stream.read_exact(buf).await?;
    Ok(true)
}

/// The answer to `query` in `out`; false when it gets none.
async fn answer(context: &TcpContext, query: &[u8], out: &mut Vec<u8>) -> bool {
    let outcome = context
        .handle
        .load()
        .answer_into(&context.view, query, u16::MAX, out);
    match (outcome, &context.upstream) {
        (Outcome::Drop, _) => false,
        (Outcome::Outside, Some(upstream)) if forwards(&context.view) => {
            let (tx, rx) = oneshot::channel();
            upstream.forward(query, out, ReplyTo::Tcp(tx));
            // The upstream always answers or times out into REFUSED.
            if let Ok(answer) = rx.await {
                *out = answer;
            }
            true
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_back_off_and_others_do_not() {
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert!(out_of_resources(&io::Error::from_raw_os_error(code)));
        }
        for code in [libc::ECONNABORTED, libc::EINTR, libc::EPROTO] {
            assert!(!out_of_resources(&io::Error::from_raw_os_error(code)));
        }
    }
}
