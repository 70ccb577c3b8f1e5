//! Dropped flows: held open and silent, one test per kind, logged as REJECT with reason.

use tokio::net::TcpStream;

use super::support::{World, assert_silent};
use crate::support::eni_id;

async fn silent(w: &mut World, target: &str) {
    let addr = w.forward(target).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_silent(&mut s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_group() {
    let mut w = World::new().await;
    silent(&mut w, "db-1@real.test:443").await;
    let eni = eni_id(&w.control, "real");
    let line = w.log_line(&["10.0.1.20", "REJECT"]).await;
    assert!(line.contains(&eni), "{line}");
    assert!(
        line.ends_with("REJECT OK security_group ingress endpoint-sg - -"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_acl() {
    let mut w = World::new().await;
    silent(&mut w, "jail-1@real.test:443").await;
    let line = w.log_line(&["10.0.3.10", "REJECT"]).await;
    assert!(
        line.ends_with("REJECT OK network_acl outbound locked * locked"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_state() {
    let mut w = World::new().await;
    silent(&mut w, "web-1@gated.test:443").await;
    let line = w.log_line(&["REJECT", "endpoint_state"]).await;
    assert!(line.starts_with("2 111111111111 eni-"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_listener() {
    let mut w = World::new().await;
    silent(&mut w, "web-1@real.test:8443").await;
    w.log_line(&["REJECT", "no_listener"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route() {
    let mut w = World::new().await;
    silent(&mut w, "web-1@52.94.0.1:443").await;
    // An ENI address seen from another VPC is no route either.
    let eni = crate::support::eni_ip(&w.control, "real");
    silent(&mut w, &format!("other-1@{eni}:443")).await;
    let line = w.log_line(&["10.1.1.10", "REJECT"]).await;
    assert!(line.contains(" - 10.1.1.10 "), "no interface: {line}");
    assert!(line.ends_with("no_route - - - -"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direction() {
    let mut w = World::new().await;
    silent(&mut w, "service:real@10.0.1.10:22").await;
    w.log_line(&["REJECT", "direction"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_source_host_is_refused_at_start() {
    let w = World::new().await;
    let spec = "127.0.0.1:0=nobody@real.test:443".parse().unwrap();
    let err = vpcesim::forwarder::Forwarder::bind(&w.context, spec)
        .await
        .err()
        .expect("error");
    assert!(err.to_string().contains("nobody"), "{err}");
}
