//! The service's side of a flow: a real server on loopback, or one in process.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;

use super::source::LoopbackSources;
use crate::model::Backend;

/// The in-process pipe's buffer, each way: bulk flows still move in 64 KiB chunks, and a
/// client that writes and never reads holds at most this much in each direction (at
/// 256 KiB, 1,500 such clients of `echo` took the RSS to 1.4 GiB).
const LOCAL_BUFFER: usize = 64 * 1024;

/// A connection to the backend.
pub(crate) enum BackendConn {
    /// A real server.
    Tcp(TcpStream),
    /// An in-process `echo`, `sink` or `source`.
    Local(DuplexStream),
}

/// Connects to `backend`; a real server that refuses gives the error.
pub(crate) async fn connect(
    backend: Backend,
    sources: &LoopbackSources,
) -> io::Result<BackendConn> {
    match backend {
        Backend::Addr(addr) => {
            let stream = sources.connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(BackendConn::Tcp(stream))
        }
        local => {
            let (ours, theirs) = tokio::io::duplex(LOCAL_BUFFER);
            tokio::spawn(serve_local(local, theirs));
            Ok(BackendConn::Local(ours))
        }
    }
}

/// Runs an in-process backend on its end of the pipe until the flow is gone.
async fn serve_local(backend: Backend, stream: DuplexStream) {
    let (mut r, mut w) = tokio::io::split(stream);
    match backend {
        Backend::Echo => {
            // Returns what it receives; closes its side when the client closes its own.
            if tokio::io::copy(&mut r, &mut w).await.is_ok() {
                let _ = w.shutdown().await;
            }
        }
        Backend::Sink => {
            let _ = tokio::io::copy(&mut r, &mut tokio::io::sink()).await;
            let _ = w.shutdown().await;
        }
        Backend::Source | Backend::Addr(_) => {
            // Writes without end, and reads what comes so that the client never stalls.
            let zeros = vec![0u8; 64 * 1024];
            let drain = async {
                let mut buf = vec![0u8; 64 * 1024];
                while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
                std::future::pending::<()>().await;
            };
            let fill = async { while w.write_all(&zeros).await.is_ok() {} };
            tokio::select! {
                () = drain => {}
                () = fill => {}
            }
        }
    }
}
