//! A new policy applied to live flows: security group changes keep them, NACL and
//! endpoint state changes cut them.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vpcesim::model::{NaclEntry, PortRange, Proto, RuleAction};

use super::support::{World, assert_silent};

async fn echo(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).await.unwrap();
    let mut buf = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(buf, msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_changes_keep_flows_and_nacl_changes_cut_them() {
    let mut w = World::new().await;
    let addr = w.forward("web-1@real.test:443").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    echo(&mut s, b"before").await;
    assert_eq!(w.context.live_flows(), 1);

    // The endpoint's group no longer admits anyone: tracked flows go on, new ones stop.
    w.control
        .set_security_group(Duration::ZERO, "endpoint-sg", Some(vec![]), None)
        .unwrap();
    assert_eq!(w.apply(), 0);
    echo(&mut s, b"still here").await;
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    assert_silent(&mut fresh).await;

    // A NACL on the endpoint's subnet now denies the consumer: the flow is cut.
    let deny = NaclEntry {
        rule: 10,
        proto: Proto::All,
        ports: PortRange::ALL,
        cidr: "10.0.1.10/32".parse().unwrap(),
        action: RuleAction::Deny,
    };
    w.control
        .set_nacl(Duration::ZERO, "ep", Some(vec![deny]), None)
        .unwrap();
    assert_eq!(w.apply(), 1);
    assert_silent(&mut s).await;
    let line = w
        .log_line(&["REJECT", "network_acl inbound ep 10 ep-a"])
        .await;
    assert!(line.contains("10.0.1.10"), "{line}");
    for _ in 0..100 {
        if w.context.live_flows() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(w.context.live_flows(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_the_endpoint_cuts_its_flows() {
    let mut w = World::new().await;
    let addr = w.forward("web-1@kinesis.test:443").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    echo(&mut s, b"hi").await;
    w.control
        .delete_endpoint(Duration::ZERO, "default", "kinesis")
        .unwrap();
    assert_eq!(w.apply(), 1);
    assert_silent(&mut s).await;
    w.log_line(&["REJECT", "no_route"]).await;
}
