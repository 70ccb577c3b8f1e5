//! Load clients for `benches/soak.sh`, each bounded in time and, when given a rate, paced
//! to it (loopback only: the script passes 127.0.0.1 addresses).
//!
//! ```text
//! soakload conn ADDR CONC SECS [RATE]   # connect, send 1 KiB, read it back, close
//! soakload api ADDR CONC SECS [RATE]    # EC2 API calls over HTTP/1.1 keep-alive
//! ```
//!
//! `conn` drives a forwarder whose backend echoes. `api` runs, per worker, the cycle
//! CreateVpcEndpoint, DescribeVpcEndpoints (by ID), CreateTags, DescribeVpcEndpoints
//! (by filter), DeleteVpcEndpoints against the `soak` topology that `benches/soak.sh`
//! writes (VPC `vpc-50a450a4`, subnets `subnet-50a4000a`/`subnet-50a4000b`, group
//! `sg-50a450a4`). RATE is operations (connections or API calls) per second over all
//! workers; without it each worker goes as fast as it can.
//! Each prints one line: `ops=N errors=N secs=S rate=R`, then, for `api`, the error
//! codes it saw and how often.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The longest any one operation may take before it counts as an error.
const OP_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: soakload conn|api ADDR CONC SECS [RATE]";
    let mode = args.first().context(usage)?.clone();
    let addr: SocketAddr = args.get(1).context(usage)?.parse()?;
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address");
    }
    let conc: u64 = args.get(2).context(usage)?.parse()?;
    let secs: u64 = args.get(3).context(usage)?.parse()?;
    let rate: Option<f64> = args.get(4).map(|r| r.parse()).transpose()?;
    let load = Arc::new(Load {
        start: Instant::now(),
        deadline: Instant::now() + Duration::from_secs(secs),
        rate: rate.filter(|r| *r > 0.0),
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        codes: Mutex::new(BTreeMap::new()),
    });
    let workers: Vec<_> = (0..conc.max(1))
        .map(|worker| {
            let load = Arc::clone(&load);
            let mode = mode.clone();
            tokio::spawn(async move {
                match mode.as_str() {
                    "conn" => conn_worker(&load, addr).await,
                    _ => api_worker(&load, addr, worker).await,
                }
            })
        })
        .collect();
    if mode != "conn" && mode != "api" {
        bail!("{usage}");
    }
    for w in workers {
        w.await?;
    }
    let secs = load.start.elapsed().as_secs_f64();
    let ops = load.done.load(Ordering::Relaxed);
    println!(
        "ops={ops} errors={} secs={secs:.1} rate={:.0}",
        load.errors.load(Ordering::Relaxed),
        ops as f64 / secs
    );
    let codes = load.codes.lock().expect("codes");
    if !codes.is_empty() {
        let list: Vec<String> = codes.iter().map(|(c, n)| format!("{c}={n}")).collect();
        println!("error codes: {}", list.join(" "));
    }
    Ok(())
}

/// What the workers share: the time bounds, the pacing and the counts.
struct Load {
    start: Instant,
    deadline: Instant,
    rate: Option<f64>,
    next: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    codes: Mutex<BTreeMap<String, u64>>,
}

impl Load {
    /// Waits for the next operation's turn; false once the time is up.
    async fn turn(&self) -> bool {
        if let Some(rate) = self.rate {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let at = self.start + Duration::from_secs_f64(n as f64 / rate);
            if at >= self.deadline {
                return false;
            }
            tokio::time::sleep_until(at.into()).await;
        }
        Instant::now() < self.deadline
    }

    fn count(&self, ok: bool) {
        if ok {
            self.done.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn code(&self, code: &str) {
        *self
            .codes
            .lock()
            .expect("codes")
            .entry(code.to_string())
            .or_default() += 1;
    }
}

async fn conn_worker(load: &Load, addr: SocketAddr) {
    let payload = [0x5a_u8; 1024];
    while load.turn().await {
        let one = async {
            let mut s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            s.write_all(&payload).await?;
            let mut back = [0u8; 1024];
            s.read_exact(&mut back).await?;
            Ok::<_, std::io::Error>(back == payload)
        };
        let ok = matches!(tokio::time::timeout(OP_TIMEOUT, one).await, Ok(Ok(true)));
        load.count(ok);
    }
}

/// One keep-alive HTTP/1.1 connection to the API.
struct Http {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

impl Http {
    /// POSTs `body` as a form; returns the status and the response body.
    async fn post(&mut self, body: &str) -> std::io::Result<(u16, String)> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(BufReader::new(s));
        }
        let result = self.exchange(body).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, body: &str) -> std::io::Result<(u16, String)> {
        let s = self.stream.as_mut().expect("connected");
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        s.get_mut().write_all(request.as_bytes()).await?;
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut line = String::new();
        s.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let mut length = None;
        loop {
            line.clear();
            if s.read_line(&mut line).await? == 0 {
                return Err(bad("closed in the headers"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let length = length.ok_or_else(|| bad("no Content-Length"))?;
        let mut body = vec![0u8; length];
        s.read_exact(&mut body).await?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The text of the first `<tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find('<')? + start;
    Some(&xml[start..end])
}

async fn api_worker(load: &Load, addr: SocketAddr, worker: u64) {
    const V: &str = "Version=2016-11-15";
    let mut http = Http { addr, stream: None };
    let subnet = if worker.is_multiple_of(2) {
        "subnet-50a4000a"
    } else {
        "subnet-50a4000b"
    };
    let mut id: Option<String> = None;
    let mut step = 0u64;
    while load.turn().await {
        let body = match (step % 5, &id) {
            (0, _) | (_, None) => format!(
                "Action=CreateVpcEndpoint&{V}&VpcId=vpc-50a450a4&VpcEndpointType=Interface\
&ServiceName=com.amazonaws.us-east-1.sqs&SubnetId.1={subnet}&SecurityGroupId.1=sg-50a450a4\
&PrivateDnsEnabled=false&TagSpecification.1.ResourceType=vpc-endpoint\
&TagSpecification.1.Tag.1.Key=worker&TagSpecification.1.Tag.1.Value=w{worker}"
            ),
            (1, Some(id)) => format!("Action=DescribeVpcEndpoints&{V}&VpcEndpointId.1={id}"),
            (2, Some(id)) => {
                format!("Action=CreateTags&{V}&ResourceId.1={id}&Tag.1.Key=step&Tag.1.Value={step}")
            }
            (3, Some(_)) => format!(
                "Action=DescribeVpcEndpoints&{V}&Filter.1.Name=tag:worker&Filter.1.Value.1=w{worker}\
&Filter.2.Name=vpc-endpoint-state&Filter.2.Value.1=available&Filter.2.Value.2=pending&MaxResults=5"
            ),
            (_, Some(id)) => format!("Action=DeleteVpcEndpoints&{V}&VpcEndpointId.1={id}"),
        };
        let creating = id.is_none() || step.is_multiple_of(5);
        let answer = tokio::time::timeout(OP_TIMEOUT, http.post(&body)).await;
        match answer {
            Ok(Ok((200, xml))) => {
                load.count(true);
                if creating {
                    id = element(&xml, "vpcEndpointId").map(str::to_string);
                }
                if step % 5 == 4 {
                    id = None;
                }
            }
            Ok(Ok((_, xml))) => {
                load.count(false);
                load.code(element(&xml, "Code").unwrap_or("no-code"));
                if creating {
                    id = None;
                }
            }
            Ok(Err(_)) => {
                load.count(false);
                load.code("io-error");
            }
            Err(_) => {
                load.count(false);
                load.code("timeout");
                http.stream = None;
            }
        }
        // After a create (kept or failed), the cycle goes on from the describe.
        step = if creating && id.is_some() {
            1
        } else if creating {
            0
        } else {
            (step + 1) % 5
        };
    }
}
