//! Runs a scenario's steps against the simulation, on simulated time.
//!
//! The runner owns the clock: control-plane steps take `now`, network steps return when
//! they finished, and lifecycle transitions due at or before a step's start take effect
//! before it. It compiles fresh DNS and policy snapshots whenever the control plane's
//! generation moves, exactly as `vpcesim serve` does.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::Scenario;
use super::bindings::Bindings;
use super::expand::expand;
use super::step::*;
use crate::control::{ApiError, ControlPlane};
use crate::dns::DnsSnapshot;
use crate::model::{EndpointState, Proto};
use crate::policy::{BlockedBy as Verdict, Initiator, PolicySnapshot};
use crate::vnet::{DnsView, Network};

/// How one step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    /// The step's index, from 1.
    pub index: usize,
    /// The step's line in its file.
    pub line: usize,
    /// The step's `name`, if it has one.
    pub name: Option<String>,
    /// Its action key.
    pub action: &'static str,
    /// Whether every expectation held.
    pub passed: bool,
    /// What the step observed: the rcode and answer set, the outcome and what blocked
    /// the flow, the measured rate, the API's answer. Empty when the step could not
    /// run (its `failures` say why).
    pub observed: String,
    /// Each expectation that did not hold (`expected ...`), or why the step could not
    /// run; empty when it passed.
    pub failures: Vec<String>,
}

impl StepOutcome {
    /// The failures and then what was observed, each said once:
    /// `expected outcome connected; observed: timeout (...): blocked by ...`.
    pub fn message(&self) -> String {
        match (self.failures.is_empty(), self.observed.is_empty()) {
            (true, _) => self.observed.clone(),
            (false, true) => self.failures.join("; "),
            (false, false) => format!("{}; observed: {}", self.failures.join("; "), self.observed),
        }
    }
}

/// What [`run`] reports while it works.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'s> {
    /// A step is about to run (a long transfer may take a while of wall time).
    Starting(&'s Step),
    /// A step has run.
    Finished(&'s StepOutcome),
}

/// Runs every step of `scenario` in order; a failed step does not stop the file.
pub fn run(scenario: Scenario, mut progress: impl FnMut(Progress<'_>)) -> Vec<StepOutcome> {
    let mut runner = Runner::new(scenario.control, scenario.seed);
    scenario
        .steps
        .iter()
        .map(|step| {
            progress(Progress::Starting(step));
            let outcome = runner.step(step);
            progress(Progress::Finished(&outcome));
            outcome
        })
        .collect()
}

struct Runner {
    control: ControlPlane,
    now: Duration,
    dns: DnsSnapshot,
    net: Network,
    compiled_generation: u64,
    /// Which endpoint each scenario name means now.
    bindings: Bindings,
}

/// The expectations of a step that did not hold.
type Checks = Vec<String>;

/// What a step observed, and each expectation that did not hold.
struct Observed {
    summary: String,
    failures: Checks,
}

impl Observed {
    /// A step that could not run, for `why`.
    fn problem(why: String) -> Self {
        Self {
            summary: String::new(),
            failures: vec![why],
        }
    }
}

impl Runner {
    fn new(control: ControlPlane, seed: u64) -> Self {
        let dns = DnsSnapshot::compile(&control);
        let net = Network::new(
            control.topology(),
            PolicySnapshot::compile(control.topology()),
            seed,
        );
        let compiled_generation = control.generation();
        Self {
            control,
            now: Duration::ZERO,
            dns,
            net,
            compiled_generation,
            bindings: Bindings::default(),
        }
    }

    /// Brings the DNS answers and the network's rules up to date with the control plane.
    fn refresh(&mut self) {
        self.control.advance(self.now);
        if self.control.generation() != self.compiled_generation {
            self.dns = self.dns.update(&self.control);
            self.net.update(
                self.control.topology(),
                PolicySnapshot::compile(self.control.topology()),
            );
            self.compiled_generation = self.control.generation();
        }
    }

    fn step(&mut self, step: &Step) -> StepOutcome {
        self.refresh();
        let observed = self.execute(&step.action, &step.expect);
        self.refresh();
        StepOutcome {
            index: step.index,
            line: step.line,
            name: step.name.clone(),
            action: step.action.key(),
            passed: observed.failures.is_empty(),
            observed: observed.summary,
            failures: observed.failures,
        }
    }

    /// Runs one action and compares what it observed with `expect`.
    fn execute(&mut self, action: &Action, expect: &Expect) -> Observed {
        match action {
            Action::Resolve {
                name,
                from,
                record_type,
            } => self.resolve(name, from, record_type, expect),
            Action::Connect {
                target,
                from,
                proto,
                timeout,
            } => self.connect(target, from, *proto, *timeout, expect),
            Action::Transfer {
                target,
                from,
                bytes,
                direction,
                streams,
            } => self.transfer(target, from, *bytes, *direction, *streams, expect),
            Action::CreateEndpoint(request) => {
                let caller = self.vpc_owner(&request.vpc);
                let name = request.name.clone().unwrap_or_default();
                let endpoints = &self.control.topology().endpoints;
                let key = Bindings::fresh_key(&name, |k| endpoints.contains_key(k));
                let request = crate::control::CreateEndpoint {
                    name: Some(key.clone()),
                    ..request.clone()
                };
                let result = self
                    .control
                    .create_endpoint(self.now, &caller, &request)
                    .map(|e| Some(e.state));
                if result.is_ok() {
                    self.bindings.bind(&name, key);
                }
                api_checks(result, expect)
            }
            Action::ModifyEndpoint { endpoint, change } => {
                let endpoint = self.bindings.key(endpoint);
                let caller = self.endpoint_owner(endpoint);
                let result = self
                    .control
                    .modify_endpoint(self.now, &caller, endpoint, change)
                    .map(|()| None);
                api_checks(result, expect)
            }
            Action::DeleteEndpoint(endpoint) => {
                let endpoint = self.bindings.key(endpoint);
                let caller = self.endpoint_owner(endpoint);
                let result = self
                    .control
                    .delete_endpoint(self.now, &caller, endpoint)
                    .map(Some);
                api_checks(result, expect)
            }
            Action::Accept(endpoint) => {
                let endpoint = self.bindings.key(endpoint);
                let caller = self.provider_of(endpoint);
                api_checks(
                    self.control
                        .accept_endpoint(self.now, &caller, endpoint)
                        .map(Some),
                    expect,
                )
            }
            Action::Reject(endpoint) => {
                let endpoint = self.bindings.key(endpoint);
                let caller = self.provider_of(endpoint);
                api_checks(
                    self.control
                        .reject_endpoint(self.now, &caller, endpoint)
                        .map(Some),
                    expect,
                )
            }
            Action::SetVpc {
                vpc,
                dns_support,
                dns_hostnames,
            } => api_checks(
                self.control
                    .set_vpc_attributes(self.now, vpc, *dns_support, *dns_hostnames)
                    .map(|()| None),
                expect,
            ),
            Action::SetSecurityGroup {
                group,
                ingress,
                egress,
            } => api_checks(
                self.control
                    .set_security_group(self.now, group, ingress.clone(), egress.clone())
                    .map(|()| None),
                expect,
            ),
            Action::SetNacl {
                nacl,
                inbound,
                outbound,
            } => api_checks(
                self.control
                    .set_nacl(self.now, nacl, inbound.clone(), outbound.clone())
                    .map(|()| None),
                expect,
            ),
            Action::DescribeEndpoint(endpoint) => {
                self.describe_endpoint(self.bindings.key(endpoint), expect)
            }
            Action::DescribeService { service, account } => {
                self.describe_service(service, account, expect)
            }
            Action::Wait(duration) => {
                // Durations are bounded at load time; saturate all the same.
                self.now = self.now.saturating_add(*duration);
                verdict(Vec::new(), format!("now at {}", seconds(self.now)))
            }
            Action::Notifications(topic) => {
                let got: Vec<String> = self
                    .control
                    .deliveries(topic)
                    .iter()
                    .map(|d| d.event.clone())
                    .collect();
                let mut failures = Vec::new();
                if let Some(expected) = &expect.events
                    && *expected != got
                {
                    failures.push(format!("expected events {expected:?}"));
                }
                verdict(failures, format!("events {got:?}"))
            }
        }
    }

    fn vpc_owner(&self, vpc: &str) -> String {
        self.control
            .topology()
            .vpcs
            .get(vpc)
            .map(|v| v.account.clone())
            .unwrap_or_default()
    }

    fn endpoint_owner(&self, endpoint: &str) -> String {
        self.control
            .topology()
            .endpoints
            .get(endpoint)
            .map(|e| e.account.clone())
            .unwrap_or_default()
    }

    /// The account of the endpoint's service's provider (`amazon` for AWS services).
    fn provider_of(&self, endpoint: &str) -> String {
        let topology = self.control.topology();
        topology
            .endpoints
            .get(endpoint)
            .and_then(|e| match &e.service {
                crate::model::ServiceRef::Provider(name) => {
                    topology.services.get(name).map(|s| s.account.clone())
                }
                crate::model::ServiceRef::Aws(_) => None,
            })
            .unwrap_or_else(|| "amazon".into())
    }

    /// Sends one query through the fabric to the host's resolver and parses the reply.
    fn query(
        &mut self,
        from: &str,
        name: &str,
        record_type: RecordType,
    ) -> Result<Message, String> {
        let qname =
            Name::from_ascii(name).map_err(|e| format!("`{name}` is not a DNS name: {e}"))?;
        let mut message = Message::new(0x5653, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(qname, record_type));
        let bytes = message
            .to_vec()
            .map_err(|e| format!("cannot encode the query: {e}"))?;
        let dns = self.dns.clone();
        let answer =
            move |view: &DnsView, query: &[u8], max: u16| dns.answer_bytes(view, query, max);
        let (reply, finished) = self.net.resolve(self.now, from, &bytes, &answer);
        self.now = finished;
        Message::from_vec(&reply).map_err(|e| format!("the resolver's reply does not parse: {e}"))
    }

    fn resolve(&mut self, name: &str, from: &str, record_type: &str, expect: &Expect) -> Observed {
        let name = match expand(&self.control, &self.bindings, name) {
            Ok(name) => name,
            Err(why) => return Observed::problem(why),
        };
        let Ok(rtype) = record_type.parse::<RecordType>() else {
            return Observed::problem(format!("unknown record type {record_type}"));
        };
        let reply = match self.query(from, &name, rtype) {
            Ok(reply) => reply,
            Err(why) => return Observed::problem(why),
        };
        let rcode = reply.metadata.response_code;
        let addresses = a_records(&reply);
        let ttl = reply
            .answers
            .iter()
            .find(|r| r.record_type() == RecordType::A)
            .map(|r| r.ttl);
        let mut failures = Vec::new();
        if let Some(expected) = expect.rcode
            && rcode_str(rcode) != expected.as_str()
        {
            failures.push(format!("expected rcode {}", expected.as_str()));
        }
        if let Some(expected) = &expect.answers {
            let want = self.expected_addresses(expected, &name);
            match want {
                Ok(want) => {
                    let got: BTreeSet<Ipv4Addr> = addresses.iter().copied().collect();
                    if want != got {
                        failures.push(format!(
                            "expected answers {} ({})",
                            describe_answers(expected),
                            list(&want)
                        ));
                    }
                }
                Err(e) => failures.push(e),
            }
        }
        if let Some(count) = expect.count
            && addresses.len() as u64 != count
        {
            failures.push(format!("expected {count} addresses"));
        }
        if let Some(expected) = expect.ttl
            && ttl != Some(expected)
        {
            failures.push(format!("expected TTL {expected}"));
        }
        verdict(
            failures,
            format!(
                "{name} {record_type}: {} [{}]{}",
                rcode_str(rcode),
                list(&addresses),
                ttl.map_or(String::new(), |t| format!(" ttl {t}"))
            ),
        )
    }

    fn expected_addresses(
        &self,
        expected: &Answers,
        asked: &str,
    ) -> Result<BTreeSet<Ipv4Addr>, String> {
        let topology = self.control.topology();
        let enis_of = |endpoint: &str, az: Option<&str>| -> Result<BTreeSet<Ipv4Addr>, String> {
            let e = topology
                .endpoints
                .get(self.bindings.key(endpoint))
                .ok_or_else(|| format!("endpoint `{endpoint}` does not exist"))?;
            Ok(e.enis
                .iter()
                .filter_map(|id| topology.enis.get(id))
                .filter(|eni| {
                    az.is_none_or(|az| {
                        topology
                            .subnets
                            .get(&eni.subnet)
                            .is_some_and(|s| s.az_name == az)
                    })
                })
                .map(|eni| eni.ip)
                .collect())
        };
        match expected {
            Answers::Addresses(list) => Ok(list.iter().copied().collect()),
            Answers::Endpoint(name) => enis_of(name, None),
            Answers::EndpointAz(name, az) => enis_of(name, Some(az)),
            Answers::None => Ok(BTreeSet::new()),
            Answers::Public => crate::catalog::by_private_name(&topology.region, asked)
                .map(|s| s.public_addresses.iter().copied().collect())
                .ok_or_else(|| {
                    format!(
                        "`answers = \"public\"`: `{asked}` is no catalog service's default name"
                    )
                }),
        }
    }

    /// Resolves `HOST:PORT` from `from`'s point of view.
    fn target(&mut self, target: &str, from: &Origin) -> Result<SocketAddrV4, (Outcome, String)> {
        let expanded =
            expand(&self.control, &self.bindings, target).map_err(|e| (Outcome::Unresolved, e))?;
        let (host, port) = expanded.rsplit_once(':').ok_or_else(|| {
            (
                Outcome::Unresolved,
                format!("`{expanded}` is not HOST:PORT"),
            )
        })?;
        let port: u16 = port
            .parse()
            .map_err(|_| (Outcome::Unresolved, format!("bad port in `{expanded}`")))?;
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(SocketAddrV4::new(ip, port));
        }
        let Origin::Host(from) = from else {
            return Err((
                Outcome::Unresolved,
                format!(
                    "the provider's side has no resolver in the VPC: give `{host}` as an address"
                ),
            ));
        };
        let reply = self
            .query(from, host, RecordType::A)
            .map_err(|e| (Outcome::Unresolved, e))?;
        let rcode = reply.metadata.response_code;
        match a_records(&reply).first() {
            Some(ip) if rcode == ResponseCode::NoError => Ok(SocketAddrV4::new(*ip, port)),
            _ => Err((
                Outcome::Unresolved,
                format!("{host} did not resolve from {from}: {}", rcode_str(rcode)),
            )),
        }
    }

    fn connect(
        &mut self,
        target: &str,
        from: &Origin,
        proto: Proto,
        timeout: Duration,
        expect: &Expect,
    ) -> Observed {
        let (outcome, blocked, detail) = match self.target(target, from) {
            Err((outcome, why)) => (outcome, None, why),
            Ok(dst) => {
                let report = self
                    .net
                    .connect(self.now, &initiator(from), dst, proto, timeout);
                self.now = report.finished_at;
                let outcome = if report.connected {
                    Outcome::Connected
                } else {
                    Outcome::Timeout
                };
                (outcome, report.blocked_by, format!("{dst}"))
            }
        };
        let mut failures = Vec::new();
        check_flow(&mut failures, expect, outcome, blocked.as_ref());
        verdict(failures, flow_summary(outcome, blocked.as_ref(), &detail))
    }

    fn transfer(
        &mut self,
        target: &str,
        from: &Origin,
        bytes: u64,
        direction: Direction,
        streams: u32,
        expect: &Expect,
    ) -> Observed {
        let mut failures = Vec::new();
        let (outcome, blocked, detail) = match self.target(target, from) {
            Err((outcome, why)) => (outcome, None, why),
            Ok(dst) => {
                let timeout = Duration::from_secs(5);
                let report = self.net.transfer(
                    self.now,
                    &initiator(from),
                    dst,
                    bytes,
                    direction,
                    streams,
                    timeout,
                );
                self.now = report.finished_at;
                if report.completed && !report.digest_ok {
                    failures.push("the receiver's digest does not match what was sent".to_string());
                }
                let outcome = if report.completed {
                    Outcome::Completed
                } else {
                    Outcome::Timeout
                };
                if report.completed {
                    for (name, expected, got) in [
                        ("gbps", expect.gbps, report.gbps),
                        ("seconds", expect.seconds, report.payload_seconds),
                    ] {
                        if let Some(expected) = expected
                            && ((got - expected) / expected).abs() > expect.tolerance
                        {
                            failures.push(format!(
                                "expected {name} {expected} (within {:.1}%)",
                                expect.tolerance * 100.0
                            ));
                        }
                    }
                }
                let detail = format!(
                    "{dst}: {} bytes in {:.6} s, {:.3} Gbit/s",
                    report.bytes, report.payload_seconds, report.gbps
                );
                (outcome, report.blocked_by, detail)
            }
        };
        if outcome != Outcome::Completed && (expect.gbps.is_some() || expect.seconds.is_some()) {
            // A rate or a duration is only measured when every byte arrived.
            failures.push("expected a completed transfer to measure".to_string());
        }
        check_flow(&mut failures, expect, outcome, blocked.as_ref());
        verdict(failures, flow_summary(outcome, blocked.as_ref(), &detail))
    }

    fn describe_endpoint(&self, endpoint: &str, expect: &Expect) -> Observed {
        let topology = self.control.topology();
        let Some(e) = topology.endpoints.get(endpoint) else {
            return Observed::problem(format!("endpoint `{endpoint}` does not exist"));
        };
        let dns_names = crate::control::names::dns_entries(topology, e).len() as u64;
        let subnets = e.subnets.len() as u64;
        let mut failures = Vec::new();
        if let Some(state) = expect.state
            && state != e.state
        {
            failures.push(format!("expected state {state}"));
        }
        if let Some(n) = expect.dns_names
            && n != dns_names
        {
            failures.push(format!("expected {n} DNS names"));
        }
        if let Some(p) = expect.private_dns
            && p != e.private_dns
        {
            failures.push(format!("expected private_dns {p}"));
        }
        if let Some(n) = expect.subnets
            && n != subnets
        {
            failures.push(format!("expected {n} subnets"));
        }
        verdict(
            failures,
            format!(
                "{} {}: {dns_names} DNS names, {subnets} subnets, private DNS {}",
                e.id, e.state, e.private_dns
            ),
        )
    }

    fn describe_service(&self, service: &str, account: &str, expect: &Expect) -> Observed {
        let mut failures = Vec::new();
        match self.control.describe_service(service, account) {
            Ok((_, azs)) => {
                if let Some(code) = &expect.error {
                    failures.push(format!("expected error {code}"));
                }
                if let Some(expected) = &expect.azs {
                    let want: BTreeSet<&String> = expected.iter().collect();
                    let got: BTreeSet<&String> = azs.names.iter().collect();
                    if want != got {
                        failures.push(format!("expected AZs {want:?}"));
                    }
                }
                verdict(failures, format!("AZs {:?}", azs.names))
            }
            Err(e) => {
                if expect.error.as_deref() != Some(e.code.as_str()) {
                    failures.push(format!(
                        "expected {}",
                        expect
                            .error
                            .as_deref()
                            .map_or("success".to_string(), |c| format!("error {c}"))
                    ));
                }
                verdict(failures, format!("{}: {}", e.code, e.message))
            }
        }
    }
}

fn initiator(origin: &Origin) -> Initiator {
    match origin {
        Origin::Host(h) => Initiator::Host(h.clone()),
        Origin::Service(s) => Initiator::Provider(s.clone()),
    }
}

/// Compares a control-plane call's result with `ok`, `error` and `state`.
fn api_checks(result: Result<Option<EndpointState>, ApiError>, expect: &Expect) -> Observed {
    let mut failures = Vec::new();
    let want_ok = expect.ok.unwrap_or(expect.error.is_none());
    let summary = match &result {
        Ok(Some(state)) => format!("ok, {state}"),
        Ok(None) => "ok".to_string(),
        Err(e) => format!("{}: {}", e.code, e.message),
    };
    match &result {
        Ok(state) => {
            if !want_ok || expect.error.is_some() {
                let wanted = expect
                    .error
                    .as_deref()
                    .map_or("a failure".to_string(), |c| format!("error {c}"));
                failures.push(format!("expected {wanted}"));
            }
            if let (Some(want), Some(got)) = (expect.state, state)
                && want != *got
            {
                failures.push(format!("expected state {want}"));
            }
        }
        Err(e) => {
            if let Some(code) = &expect.error {
                if code != e.code.as_str() {
                    failures.push(format!("expected error {code}"));
                }
            } else if want_ok {
                failures.push("expected success".to_string());
            }
            if let Some(state) = expect.state {
                failures.push(format!("expected state {state}"));
            }
        }
    }
    verdict(failures, summary)
}

fn check_flow(failures: &mut Checks, expect: &Expect, outcome: Outcome, blocked: Option<&Verdict>) {
    if let Some(want) = expect.outcome
        && want != outcome
    {
        // What happened, and what blocked it, follow in the `observed:` summary.
        failures.push(format!("expected outcome {}", want.as_str()));
    }
    if let Some(want) = &expect.blocked_by {
        match blocked {
            None => failures.push(format!(
                "expected a block by {}, but nothing blocked the flow",
                describe_block(want)
            )),
            Some(got) => {
                let mismatches: Vec<String> = [
                    ("kind", want.kind.as_deref(), Some(got.kind.as_str())),
                    ("direction", want.direction.as_deref(), got.direction),
                    ("name", want.name.as_deref(), got.name.as_deref()),
                    ("rule", want.rule.as_deref(), got.rule.as_deref()),
                    ("subnet", want.subnet.as_deref(), got.subnet.as_deref()),
                ]
                .into_iter()
                .filter(|(_, want, got)| want.is_some() && want != got)
                .map(|(key, want, _)| format!("{key} {}", want.unwrap_or("-")))
                .collect();
                if !mismatches.is_empty() {
                    failures.push(format!("expected blocked_by {}", mismatches.join(", ")));
                }
            }
        }
    }
}

fn describe_block(b: &BlockedBy) -> String {
    [
        ("kind", &b.kind),
        ("direction", &b.direction),
        ("name", &b.name),
        ("rule", &b.rule),
        ("subnet", &b.subnet),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
    .collect::<Vec<_>>()
    .join(", ")
}

fn flow_summary(outcome: Outcome, blocked: Option<&Verdict>, detail: &str) -> String {
    match blocked {
        Some(b) => format!("{} ({detail}): blocked by {b}", outcome.as_str()),
        None => format!("{} ({detail})", outcome.as_str()),
    }
}

/// What was observed, with the expectations that did not hold (none: the step passed).
fn verdict(failures: Checks, summary: String) -> Observed {
    Observed { summary, failures }
}

fn a_records(message: &Message) -> Vec<Ipv4Addr> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn rcode_str(code: ResponseCode) -> &'static str {
    match code {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::NotImp => "NOTIMP",
        _ => "OTHER",
    }
}

fn describe_answers(a: &Answers) -> String {
    match a {
        Answers::Addresses(_) => "the listed addresses".into(),
        Answers::Endpoint(n) => format!("endpoint:{n}"),
        Answers::EndpointAz(n, az) => format!("endpoint:{n}:{az}"),
        Answers::Public => "public".into(),
        Answers::None => "none".into(),
    }
}

fn list<'a>(addresses: impl IntoIterator<Item = &'a Ipv4Addr>) -> String {
    let items: Vec<String> = addresses.into_iter().map(Ipv4Addr::to_string).collect();
    if items.is_empty() {
        "no addresses".into()
    } else {
        items.join(", ")
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.6} s", d.as_secs_f64())
}
