//! Helpers for `benches/tcp_compare.sh`: a loopback echo server and a connection-rate
//! client (the forwarder under test is the real `vpcesim serve --forward`).
//!
//! ```text
//! tcpbench echo 127.0.0.1:7161
//! tcpbench connrate 127.0.0.1:7160 64 10        # connect + 1-byte echo + close
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("echo") => echo(args.get(1).context("echo ADDR")?.parse()?).await,
        Some("connrate") => {
            let addr: SocketAddr = args.get(1).context("connrate ADDR CONC SECS")?.parse()?;
            let conc: usize = args.get(2).map_or(Ok(64), |s| s.parse())?;
            let secs: u64 = args.get(3).map_or(Ok(10), |s| s.parse())?;
            connrate(addr, conc, Duration::from_secs(secs)).await
        }
        _ => bail!("usage: tcpbench echo ADDR | connrate ADDR CONC SECS"),
    }
}

async fn echo(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (mut s, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            let (mut r, mut w) = s.split();
            if tokio::io::copy(&mut r, &mut w).await.is_ok() {
                let _ = w.shutdown().await;
            }
        });
    }
}

async fn connrate(addr: SocketAddr, conc: usize, secs: Duration) -> anyhow::Result<()> {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + secs;
    let workers: Vec<_> = (0..conc)
        .map(|_| {
            let (done, errors) = (Arc::clone(&done), Arc::clone(&errors));
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let one = async {
                        let mut s = TcpStream::connect(addr).await?;
                        s.set_nodelay(true)?;
                        s.write_all(b"x").await?;
                        let mut b = [0u8; 1];
                        s.read_exact(&mut b).await?;
                        Ok::<_, std::io::Error>(())
                    };
                    match tokio::time::timeout(Duration::from_secs(5), one).await {
                        Ok(Ok(())) => done.fetch_add(1, Ordering::Relaxed),
                        _ => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "conns={n} errors={} secs={secs:.2} rate={:.0}",
        errors.load(Ordering::Relaxed),
        n as f64 / secs
    );
    Ok(())
}
