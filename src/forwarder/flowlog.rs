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
//! logs cannot tell. The queue to the writer is bounded; records it had to drop are
//! counted, marked in the file by a `SKIPDATA` record and logged.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// The records the flow log's queue holds by default before it drops new ones.
pub(crate) const DEFAULT_QUEUE: usize = 65_536;

/// What the writer thread is sent.
enum Message {
    Record(FlowRecord),
    /// Write what came before, flush, stop, and say so.
    Finish(mpsc::Sender<()>),
}

/// A flow log file, written by a thread of its own so that no flow waits on the disk.
///
/// The queue to the writer is bounded: when the disk cannot keep up, new records are
/// dropped and counted, and the writer then writes a record with log status `SKIPDATA`
/// (AWS's status for "records were skipped") and logs how many, so that a gap is never
/// silent.
#[derive(Debug, Clone)]
pub struct FlowLog {
    tx: mpsc::SyncSender<Message>,
    dropped: Arc<AtomicU64>,
    writer: Arc<Mutex<Option<thread::JoinHandle<()>>>>,
}

impl FlowLog {
    /// Creates (truncates) `path` and starts its writer, with a queue of `queue` records;
    /// `reasons` adds the verdict fields.
    pub fn create(path: &Path, reasons: bool, queue: usize) -> std::io::Result<Self> {
        let file = File::create(path)?;
        Self::to_writer(Box::new(file), reasons, queue)
    }

    /// A flow log written to `out`.
    fn to_writer(out: Box<dyn Write + Send>, reasons: bool, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Message>(queue);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&dropped);
        let writer = thread::Builder::new()
            .name("flow-log".into())
            .spawn(move || write_records(&rx, BufWriter::new(out), reasons, &counted))?;
        Ok(Self {
            tx,
            dropped,
            writer: Arc::new(Mutex::new(Some(writer))),
        })
    }

    /// Queues one record; it reaches the file at once, unless the queue is full (then it
    /// is dropped and counted).
    pub fn write(&self, record: FlowRecord) {
        if self.tx.try_send(Message::Record(record)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records dropped so far because the queue was full (or the log finished).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes every queued record, flushes the file and stops the writer (at shutdown);
    /// records written after this are dropped and counted.
    pub fn finish(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Message::Finish(done_tx)).is_ok() {
            let _ = done_rx.recv();
        }
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

/// The writer thread: writes records as they come, in batches, flushing after each;
/// notes drops with a `SKIPDATA` record. Ends at [`Message::Finish`] or when every
/// sender is gone.
fn write_records(
    rx: &mpsc::Receiver<Message>,
    mut out: BufWriter<Box<dyn Write + Send>>,
    reasons: bool,
    dropped: &AtomicU64,
) {
    let mut reported = 0;
    let mut window_start = unix_now();
    let mut finished = None;
    while finished.is_none() {
        let Ok(first) = rx.recv() else { break };
        let mut ok = true;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(record) => {
                    ok &= writeln!(out, "{}", record.line(reasons)).is_ok();
                }
                Message::Finish(done) => {
                    finished = Some(done);
                    break;
                }
            }
            next = rx.try_recv().ok();
        }
        let total = dropped.load(Ordering::Relaxed);
        if total > reported {
            let now = unix_now();
            ok &= writeln!(out, "{}", skipdata_line(window_start, now, reasons)).is_ok();
            tracing::warn!(
                dropped = total - reported,
                total,
                "the flow log's queue was full: records dropped (a SKIPDATA record marks the gap)"
            );
            reported = total;
            window_start = now;
        }
        if !ok || out.flush().is_err() {
            tracing::warn!("cannot write the flow log");
        }
    }
    if let Some(done) = finished {
        let _ = done.send(());
    }
}

/// A record saying that records between `start` and `end` were skipped, as AWS writes it
/// (`SKIPDATA`, every flow field `-`).
fn skipdata_line(start: u64, end: u64, reasons: bool) -> String {
    let mut line = format!("2 - - - - - - - - - {start} {end} - SKIPDATA");
    if reasons {
        line.push_str(" - - - - -");
    }
    line
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
        let log = FlowLog::create(&path, false, DEFAULT_QUEUE).unwrap();
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

    /// A sink whose writes block until the test opens the gate.
    struct Gated {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        entered: Arc<AtomicU64>,
        out: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.entered.fetch_add(1, Ordering::SeqCst);
            let (lock, cvar) = &*self.open;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cvar.wait(open).unwrap();
            }
            self.out.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_queue_drops_counts_and_marks_the_gap_then_finish_writes_the_rest() {
        let open = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let out = Arc::new(Mutex::new(Vec::new()));
        let entered = Arc::new(AtomicU64::new(0));
        let sink = Gated {
            open: Arc::clone(&open),
            entered: Arc::clone(&entered),
            out: Arc::clone(&out),
        };
        let log = FlowLog::to_writer(Box::new(sink), false, 4).unwrap();
        // The writer takes the first record and blocks on the gate writing it out.
        log.write(record(FlowAction::Accept));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while entered.load(Ordering::SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never wrote"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // The queue holds 4 more; the other 15 are dropped, not waited for.
        for _ in 0..19 {
            log.write(record(FlowAction::Accept));
        }
        let dropped = log.dropped();
        assert_eq!(dropped, 15);
        {
            let (lock, cvar) = &*open;
            *lock.lock().unwrap() = true;
            cvar.notify_all();
        }
        log.finish();
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let records = text.lines().filter(|l| l.ends_with("ACCEPT OK")).count();
        assert_eq!(records as u64 + dropped, 20, "{text}");
        let skip: Vec<&str> = text
            .lines()
            .filter(|l| l.ends_with(" - SKIPDATA"))
            .collect();
        assert_eq!(skip.len(), 1, "{text}");
        assert!(skip[0].starts_with("2 - - - - - - - - - "), "{text}");
        assert_eq!(skip[0].split(' ').count(), 14);
        // After finish, records are counted as dropped, not lost silently.
        log.write(record(FlowAction::Accept));
        assert_eq!(log.dropped(), dropped + 1);
    }

    #[test]
    fn finish_flushes_every_record_queued_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flows.log");
        let log = FlowLog::create(&path, true, DEFAULT_QUEUE).unwrap();
        for _ in 0..201 {
            log.write(record(FlowAction::Accept));
        }
        log.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 201);
        assert_eq!(log.dropped(), 0);
    }
}
