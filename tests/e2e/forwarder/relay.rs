//! Allowed flows: bytes intact both ways, half-close, many flows, refusals, pacing.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vpcesim::model::Bandwidth;

use super::support::{World, round_trip};
use crate::support::eni_id;

/// Sends `len` pseudo-random bytes and reads them back concurrently; checks every byte.
async fn echo_intact(addr: std::net::SocketAddr, len: usize) {
    let data: Vec<u8> = (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        for chunk in sent.chunks(1 << 20) {
            w.write_all(chunk).await.unwrap();
        }
        w.shutdown().await.unwrap();
    });
    let mut back = Vec::with_capacity(len);
    tokio::time::timeout(Duration::from_secs(60), r.read_to_end(&mut back))
        .await
        .expect("64 MiB within 60 s")
        .unwrap();
    writer.await.unwrap();
    assert_eq!(back.len(), len);
    assert!(back == data, "bytes changed on the way");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_64_mib_intact_both_ways_to_a_real_backend() {
    let mut w = World::new().await;
    let addr = w.forward("web-1@real.test:443").await;
    echo_intact(addr, 64 << 20).await;
    let eni = eni_id(&w.control, "real");
    let line = w.log_line(&[&eni, "ACCEPT"]).await;
    // 64 MiB each way, in the record's payload-derived byte count.
    let bytes: u64 = line.split(' ').nth(9).unwrap().parse().unwrap();
    assert!(bytes >= 2 * (64 << 20), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_64_mib_intact_both_ways_to_the_in_process_echo() {
    let mut w = World::new().await;
    let addr = w.forward("web-1@kinesis.test:443").await;
    echo_intact(addr, 64 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_is_respected() {
    let mut w = World::new().await;
    for target in ["web-1@real.test:443", "web-1@kinesis.test:443"] {
        let addr = w.forward(target).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        // The client's FIN reaches the backend, whose reply still comes back.
        assert_eq!(round_trip(&mut s, b"half-closed").await, b"half-closed");
    }
    // A sink reads until the client's FIN, then closes its side.
    let addr = w.forward("web-1@bulk.test:443").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(round_trip(&mut s, &[7u8; 100_000]).await, b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_flows() {
    let mut w = World::new().await;
    let addr = w.forward("web-1@kinesis.test:443").await;
    // Open all first, so that all are live at once.
    let mut streams = Vec::new();
    for _ in 0..1000 {
        streams.push(TcpStream::connect(addr).await.unwrap());
    }
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            tokio::spawn(async move {
                let msg = format!("flow {i}").repeat(100);
                assert_eq!(round_trip(&mut s, msg.as_bytes()).await, msg.as_bytes());
            })
        })
        .collect();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("flows end")
            .unwrap();
    }
    // Every flow got its own ephemeral port, in sequence from 32768.
    for _ in 0..100 {
        if std::fs::read_to_string(&w.flow_log)
            .unwrap()
            .lines()
            .count()
            >= 1000
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = std::fs::read_to_string(&w.flow_log).unwrap();
    let mut ports: Vec<u16> = text
        .lines()
        .map(|l| l.split(' ').nth(5).unwrap().parse().unwrap())
        .collect();
    ports.sort();
    assert_eq!(ports, (32768..32768 + 1000).collect::<Vec<u16>>());
    assert_eq!(w.context.live_flows(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_backend_resets_the_client() {
    let mut w = World::new().await;
    let addr = w.forward("web-1@refusing.test:443").await;
    // The reset may arrive before connect() returns, or on the first read.
    let err = match TcpStream::connect(addr).await {
        Err(e) => e,
        Ok(mut s) => {
            let mut buf = [0u8; 16];
            let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("an answer within 5 s");
            read.expect_err("a reset, not data or a clean close")
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    w.log_line(&[&eni_id(&w.control, "refusing"), "ACCEPT"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_paces_uploads_and_loses_nothing() {
    // 80 Mbit/s with a 0.8 Mbit bucket: 4 MB (32 Mbit) into a sink cannot take less than
    // (32 - 0.8) / 80 s = 390 ms.
    let mut w = World::with_bandwidth(Bandwidth {
        per_az_gbps: 0.08,
        burst_mbit: 0.8,
    })
    .await;
    let addr = w.forward("web-1@bulk.test:443").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    assert_eq!(round_trip(&mut s, &vec![1u8; 4_000_000]).await, b"");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(390), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let eni = eni_id(&w.control, "bulk");
    let line = w.log_line(&[&eni, "ACCEPT"]).await;
    let bytes: u64 = line.split(' ').nth(9).unwrap().parse().unwrap();
    assert!(bytes >= 4_000_000, "every byte counted: {line}");
}
