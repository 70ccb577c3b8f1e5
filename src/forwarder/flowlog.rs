//! Flow logs in AWS's VPC Flow Logs version 2 default format:
//! `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets
//! bytes start end action log-status`.
//!
//! One record per flow (both directions summed), written within 1 s of the flow's end or
//! of its rejection. AWS counts packets and header bytes the forwarder never sees: here
//! `packets` is the payload cut into segments of the 8,460-byte MSS of the 8,500-byte MTU,
//! both ways, plus 4 for the handshake and close, and `bytes` adds 52 bytes of headers per
//! packet; a rejected flow is one SYN of 60 bytes. With reasons on, five fields follow
//! (`kind direction name rule subnet` of the verdict, `-` when empty), which AWS's flow
//! logs cannot tell.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::mpsc;
use std::thread;

use crate::policy::BlockedBy;

/// The MSS of the endpoint's 8,500-byte MTU.
pub const MSS: u64 = 8_460;
const HEADER_BYTES: u64 = 52;

/// ACCEPT or REJECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAction {
    /// Allowed by every check.
    Accept,
    /// Dropped (or cut) by a check.
    Reject,
}

/// One flow log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// The consumer account's ID (`-` if unknown).
    pub account_id: String,
    /// The endpoint ENI's ID (`-` if the flow reached none).
    pub interface_id: String,
    /// The consumer's address.
    pub src: Ipv4Addr,
    /// The ENI's address.
    pub dst: Ipv4Addr,
    /// The consumer's ephemeral port.
    pub src_port: u16,
    /// The service port.
    pub dst_port: u16,
    /// Payload bytes toward the service.
    pub bytes_up: u64,
    /// Payload bytes from the service.
    pub bytes_down: u64,
    /// Unix seconds of the first packet.
    pub start: u64,
    /// Unix seconds of the last packet.
    pub end: u64,
    /// ACCEPT or REJECT.
    pub action: FlowAction,
    /// Why it was rejected (or cut).
    pub reason: Option<BlockedBy>,
}

impl FlowRecord {
    /// Packets, as estimated from the payload (see the module doc).
    pub fn packets(&self) -> u64 {
        match self.action {
            FlowAction::Reject if self.bytes_up + self.bytes_down == 0 => 1,
            _ => self.bytes_up.div_ceil(MSS) + self.bytes_down.div_ceil(MSS) + 4,
        }
    }

    /// Bytes with estimated headers.
    pub fn bytes(&self) -> u64 {
        match self.action {
            FlowAction::Reject if self.bytes_up + self.bytes_down == 0 => 60,
            _ => self.bytes_up + self.bytes_down + HEADER_BYTES * self.packets(),
        }
    }

    /// The record as one line (without newline); `reasons` appends the verdict's fields.
    pub fn line(&self, reasons: bool) -> String {
        let action = match self.action {
            FlowAction::Accept => "ACCEPT",
            FlowAction::Reject => "REJECT",
        };
        let mut line = format!(
            "2 {} {} {} {} {} {} 6 {} {} {} {} {action} OK",
            self.account_id,
            self.interface_id,
            self.src,
            self.dst,
            self.src_port,
            self.dst_port,
            self.packets(),
            self.bytes(),
            self.start,
            self.end,
        );
        if reasons {
            let r = self.reason.as_ref();
            let field = |v: Option<&str>| v.unwrap_or("-").to_string();
            let _ = write!(
                line,
                " {} {} {} {} {}",
                field(r.map(|b| b.kind.as_str())),
                field(r.and_then(|b| b.direction)),
                field(r.and_then(|b| b.name.as_deref())),
                field(r.and_then(|b| b.rule.as_deref())),
                field(r.and_then(|b| b.subnet.as_deref())),
            );
        }
        line
    }
}

/// A flow log file, written by a thread of its own so that no flow waits on the disk.
#[derive(Debug, Clone)]
pub struct FlowLog {
    tx: mpsc::Sender<FlowRecord>,
}

impl FlowLog {
    /// Creates (truncates) `path` and starts its writer; `reasons` adds the verdict fields.
    pub fn create(path: &Path, reasons: bool) -> std::io::Result<Self> {
        let file = File::create(path)?;
        let (tx, rx) = mpsc::channel::<FlowRecord>();
        thread::Builder::new()
            .name("flow-log".into())
            .spawn(move || {
                let mut out = BufWriter::new(file);
                // Ends when every sender is gone.
                while let Ok(record) = rx.recv() {
                    let mut ok = writeln!(out, "{}", record.line(reasons)).is_ok();
                    while let Ok(more) = rx.try_recv() {
                        ok &= writeln!(out, "{}", more.line(reasons)).is_ok();
                    }
                    if !ok || out.flush().is_err() {
                        tracing::warn!("cannot write the flow log");
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Queues one record; it reaches the file at once.
    pub fn write(&self, record: FlowRecord) {
        // The writer only stops when the log is dropped.
        let _ = self.tx.send(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::BlockKind;

    fn record(action: FlowAction) -> FlowRecord {
        FlowRecord {
            account_id: "111111111111".into(),
            interface_id: "eni-0123456789abcdef0".into(),
            src: Ipv4Addr::new(10, 0, 1, 10),
            dst: Ipv4Addr::new(10, 0, 10, 4),
            src_port: 32768,
            dst_port: 443,
            bytes_up: 10_000,
            bytes_down: 100,
            start: 1_735_689_600,
            end: 1_735_689_601,
            action,
            reason: None,
        }
    }

    #[test]
    fn version_2_default_format() {
        let r = record(FlowAction::Accept);
        // 2 segments up, 1 down, 4 for handshake and close.
        assert_eq!(r.packets(), 7);
        assert_eq!(
            r.line(false),
            "2 111111111111 eni-0123456789abcdef0 10.0.1.10 10.0.10.4 32768 443 6 7 10464 1735689600 1735689601 ACCEPT OK"
        );
        assert_eq!(r.line(true).split(' ').count(), 14 + 5);
        assert!(r.line(true).ends_with("ACCEPT OK - - - - -"));
    }

    #[test]
    fn rejections_carry_their_reason_when_asked() {
        let mut r = record(FlowAction::Reject);
        r.bytes_up = 0;
        r.bytes_down = 0;
        r.reason = Some(BlockedBy {
            kind: BlockKind::NetworkAcl,
            direction: Some("outbound"),
            name: Some("strict".into()),
            rule: Some("*".into()),
            subnet: Some("app-a".into()),
        });
        assert!(
            r.line(false)
                .ends_with(" 6 1 60 1735689600 1735689601 REJECT OK")
        );
        assert!(
            r.line(true)
                .ends_with("REJECT OK network_acl outbound strict * app-a")
        );
    }

    #[test]
    fn records_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flows.log");
        let log = FlowLog::create(&path, false).unwrap();
        log.write(record(FlowAction::Accept));
        log.write(record(FlowAction::Accept));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.lines().count() == 2 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "records not written within 1 s: {text:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
