//! The forwarder's bounds over real loopback sockets: connections per listener, the
//! held-connection budget (oldest first), the idle timeout, and stopping with a record
//! for every flow.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vpcesim::forwarder::ForwardOptions;

use super::support::{World, assert_silent};

/// Reads until the connection ends; returns whether it ended within `wait` (a close or
/// a reset both count).
async fn ends_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) => return true,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                assert!(
                    matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                    "{e}"
                );
                return true;
            }
        }
    }
}

/// Whether a connection to `addr` is reset or closed within 2 s (the reset may come so
/// soon that `connect` itself reports it).
async fn refused(addr: std::net::SocketAddr) -> bool {
    match TcpStream::connect(addr).await {
        Ok(mut s) => ends_within(&mut s, Duration::from_secs(2)).await,
        Err(e) => e.kind() == ErrorKind::ConnectionReset,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_at_its_limit_refuses_at_once_and_takes_more_when_one_closes() {
    let mut w = World::with_options(ForwardOptions {
        max_connections: 3,
        ..ForwardOptions::default()
    })
    .await;
    // A dropped path: every connection is held, so all three stay open.
    let addr = w.forward("db-1@real.test:443").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_silent(&mut s).await;
        held.push(s);
    }
    assert!(
        refused(addr).await,
        "the fourth connection is refused promptly"
    );
    assert_eq!(w.context.stats().refused, 1);
    // One closes (with data it sent still unread): its place is free again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = TcpStream::connect(addr).await.unwrap();
    assert_silent(&mut again).await;
    assert_eq!(w.context.stats().refused, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_held_budget_the_oldest_held_connection_is_closed() {
    let mut w = World::with_options(ForwardOptions {
        max_held: 2,
        ..ForwardOptions::default()
    })
    .await;
    let addr = w.forward("db-1@real.test:443").await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    assert_silent(&mut first).await;
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert_silent(&mut second).await;
    assert_eq!(w.context.stats().held, 2);
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert_silent(&mut third).await;
    assert!(
        ends_within(&mut first, Duration::from_secs(2)).await,
        "the oldest makes room"
    );
    assert_silent(&mut second).await;
    assert_silent(&mut third).await;
    let stats = w.context.stats();
    assert_eq!((stats.evicted, stats.held), (1, 2), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_flow_is_reset_after_the_idle_timeout_and_logged() {
    let mut w = World::with_options(ForwardOptions {
        idle_timeout: Duration::from_millis(400),
        ..ForwardOptions::default()
    })
    .await;
    for target in ["web-1@real.test:443", "web-1@kinesis.test:443"] {
        let addr = w.forward(target).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        s.read_exact(&mut back).await.unwrap();
        let idle_from = Instant::now();
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("the idle flow ends within 3 s");
        assert!(
            matches!(&read, Err(e) if e.kind() == ErrorKind::ConnectionReset),
            "{target}: the client gets a reset, not {read:?}"
        );
        let waited = idle_from.elapsed();
        assert!(waited >= Duration::from_millis(350), "{target}: {waited:?}");
    }
    assert_eq!(w.context.stats().idle_resets, 2);
    // Each still gets its ACCEPT record, with the bytes it moved.
    let line = w.log_line(&["ACCEPT"]).await;
    assert!(line.contains(" 6 6 322 "), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_live_and_held_flows_and_writes_a_record_for_each() {
    let mut w = World::new().await;
    let allowed = w.forward("web-1@real.test:443").await;
    let dropped = w.forward("db-1@real.test:443").await;
    let mut live = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(allowed).await.unwrap();
        s.write_all(b"live").await.unwrap();
        let mut back = [0u8; 4];
        s.read_exact(&mut back).await.unwrap();
        live.push(s);
    }
    let mut held = TcpStream::connect(dropped).await.unwrap();
    assert_silent(&mut held).await;
    assert!(w.context.shutdown(Duration::from_secs(5)).await);
    // The log is flushed when shutdown returns: five ACCEPT records and one REJECT.
    let text = std::fs::read_to_string(&w.flow_log).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.contains(" ACCEPT ")).count(),
        5,
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.contains(" REJECT ")).count(),
        1,
        "{text}"
    );
    for s in &mut live {
        assert!(ends_within(s, Duration::from_secs(2)).await);
    }
    assert!(ends_within(&mut held, Duration::from_secs(2)).await);
    // No new connection is taken.
    if let Ok(mut s) = TcpStream::connect(allowed).await {
        assert!(ends_within(&mut s, Duration::from_secs(2)).await);
    }
}
