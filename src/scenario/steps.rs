//! Validates `[[steps]]`: exactly one action, only the parameters and `expect` keys that
//! action takes, references that exist, and values of the right shape.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::time::Duration;

use super::load::{Loader, Result, create_request};
use super::raw::*;
use super::step::*;
use super::units::{MAX_STEPS, MAX_TRANSFER_BYTES, parse_duration, parse_size};
use crate::control::ModifyEndpoint;
use crate::model::{EndpointState, Proto, Topology};

/// The DNS query types a `resolve` step may ask.
const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CNAME", "TXT", "MX", "NS", "SOA", "PTR", "SRV", "CAA", "ANY", "HTTPS", "SVCB",
];

pub(super) struct StepLoader<'l, 'a> {
    loader: &'l Loader<'a>,
    /// The topology after the file's endpoints were created: what steps may name.
    topology: &'l Topology,
    /// Endpoint names that the file declares or that an earlier step could have
    /// created: what a step may name. Which endpoint a name means is decided when the
    /// step runs (the one most recently created under it).
    endpoints: HashSet<String>,
}

/// Which action a step has, with its span.
struct Present {
    key: &'static str,
    span: Range<usize>,
}

impl<'l, 'a> StepLoader<'l, 'a> {
    pub(super) fn new(loader: &'l Loader<'a>, topology: &'l Topology) -> Self {
        Self {
            loader,
            topology,
            endpoints: topology.endpoints.keys().cloned().collect(),
        }
    }

    /// The steps that load; the problems of the others are recorded in the loader.
    pub(super) fn load(mut self, raw: &[S<RawStep>]) -> Vec<Step> {
        if let Some(extra) = raw.get(MAX_STEPS) {
            self.loader.collect::<()>(Err(self.err(
                extra.span(),
                format!(
                    "this file has {} steps, more than the {MAX_STEPS} a scenario may have: split it into several files",
                    raw.len()
                ),
            )));
            return Vec::new();
        }
        let mut steps = Vec::with_capacity(raw.len());
        for (i, step) in raw.iter().enumerate() {
            let result = self.step(i + 1, step);
            steps.extend(self.loader.collect(result));
        }
        steps
    }

    fn err(&self, span: Range<usize>, message: impl Into<String>) -> super::error::Diagnostic {
        self.loader.err(span, message)
    }

    /// A problem about endpoint `name`, which is only a consequence when the file's
    /// declaration of that endpoint did not load.
    fn endpoint_problem(
        &self,
        name: &str,
        span: Range<usize>,
        message: String,
    ) -> super::error::Diagnostic {
        let problem = self.err(span, message);
        if self.loader.did_not_load("endpoint", name) {
            problem.following()
        } else {
            problem
        }
    }

    fn step(&mut self, index: usize, step: &S<RawStep>) -> Result<Step> {
        let (whole, raw) = (step.span(), step.get_ref());
        let line = self.loader.line_of(whole.start);
        let actions = actions_of(raw);
        let present = match actions.as_slice() {
            [one] => one,
            [] => {
                return Err(self.err(
                    whole,
                    format!(
                        "step {index} has no action: give exactly one of {}",
                        ACTION_KEYS.join(", ")
                    ),
                ));
            }
            [first, second, ..] => {
                return Err(self.err(
                    second.span.clone(),
                    format!(
                        "step {index} has two actions, `{}` and `{}`: give exactly one per step",
                        first.key, second.key
                    ),
                ));
            }
        };
        self.check_parameters(index, present.key, raw)?;
        // A check that cannot fail is the step's own problem: say so before looking at
        // what its parameters name.
        // (Keys that do not apply to the action are reported by `expect` below.)
        if let (Some(keys), Some(expect)) = (checking_keys(present.key), &raw.expect)
            && expect_keys_of(expect.get_ref())
                .iter()
                .all(|(key, _)| *key == "tolerance")
        {
            return Err(self.err(
                expect.span(),
                format!(
                    "step {index} (`{}`) expects nothing, so it could never fail: give at least one of {}",
                    present.key,
                    backticked(keys)
                ),
            ));
        }
        let action = self.action(present.key, raw, &whole)?;
        let expect = match &raw.expect {
            Some(expect) => self.expect(index, &action, expect)?,
            None if matches!(action, Action::Wait(_)) => Expect::default(),
            None => {
                return Err(self.err(
                    whole,
                    format!(
                        "step {index} (`{}`) needs `expect`: only `wait` may leave it out",
                        present.key
                    ),
                ));
            }
        };
        let name = match &raw.name {
            Some(name) if name.get_ref().trim().is_empty() => {
                return Err(self.err(
                    name.span(),
                    format!("step {index}: `name` must not be empty"),
                ));
            }
            Some(name) => Some(name.get_ref().clone()),
            None => None,
        };
        Ok(Step {
            index,
            line,
            name,
            action,
            expect,
        })
    }

    fn check_parameters(&self, index: usize, action: &str, raw: &RawStep) -> Result<()> {
        let allowed: &[&str] = match action {
            "resolve" => &["from", "type"],
            "connect" => &["from", "proto", "timeout"],
            "transfer" => &["from", "bytes", "direction", "streams"],
            "modify_endpoint" => &[
                "add_subnets",
                "remove_subnets",
                "add_security_groups",
                "remove_security_groups",
                "private_dns",
                "policy",
            ],
            "set_vpc" => &["dns_support", "dns_hostnames"],
            "set_security_group" => &["ingress", "egress"],
            "set_nacl" => &["inbound", "outbound"],
            "describe_service" => &["account"],
            _ => &[],
        };
        for (key, span) in parameters_of(raw) {
            if !allowed.contains(&key) {
                let hint = if allowed.is_empty() {
                    format!("`{action}` takes no parameters")
                } else {
                    format!("`{action}` takes {}", backticked(allowed))
                };
                return Err(self.err(
                    span,
                    format!("step {index}: `{key}` is not a parameter of `{action}`: {hint}"),
                ));
            }
        }
        Ok(())
    }

    fn action(&mut self, key: &str, raw: &RawStep, whole: &Range<usize>) -> Result<Action> {
        let text =
            |v: &Option<S<String>>| v.as_ref().map(|s| s.get_ref().clone()).unwrap_or_default();
        Ok(match key {
            "resolve" => {
                let name = raw.resolve.as_ref().expect("present");
                self.check_placeholders(name)?;
                let record_type = match &raw.record_type {
                    Some(t) => {
                        let upper = t.get_ref().to_ascii_uppercase();
                        if !RECORD_TYPES.contains(&upper.as_str()) {
                            return Err(self.err(
                                t.span(),
                                format!(
                                    "`{}` is not a DNS record type vpcesim asks (use one of {})",
                                    t.get_ref(),
                                    RECORD_TYPES.join(", ")
                                ),
                            ));
                        }
                        upper
                    }
                    None => "A".into(),
                };
                Action::Resolve {
                    name: name.get_ref().clone(),
                    from: self.host(raw.from.as_ref(), whole, "resolve")?,
                    record_type,
                }
            }
            "connect" => {
                let target = raw.connect.as_ref().expect("present");
                self.check_target(target)?;
                let proto =
                    match &raw.proto {
                        Some(p) => match p.get_ref().as_str() {
                            "tcp" => Proto::Tcp,
                            "udp" => Proto::Udp,
                            other => return Err(self.err(
                                p.span(),
                                format!(
                                    "`{other}` is not a protocol `connect` can use: `tcp` or `udp`"
                                ),
                            )),
                        },
                        None => Proto::Tcp,
                    };
                let timeout = match &raw.timeout {
                    Some(t) => parse_duration(t.get_ref()).map_err(|e| self.err(t.span(), e))?,
                    None => Duration::from_secs(5),
                };
                Action::Connect {
                    target: target.get_ref().clone(),
                    from: self.origin(raw.from.as_ref(), whole, "connect")?,
                    proto,
                    timeout,
                }
            }
            "transfer" => {
                let target = raw.transfer.as_ref().expect("present");
                self.check_target(target)?;
                let Some(bytes) = &raw.bytes else {
                    return Err(
                        self.err(target.span(), "`transfer` needs `bytes` (such as \"1GB\")")
                    );
                };
                let size = match bytes.get_ref() {
                    RawSize::Number(n) => u64::try_from(*n)
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| "a transfer moves at least one byte".to_string()),
                    RawSize::Text(t) => parse_size(t),
                }
                .map_err(|e| self.err(bytes.span(), e))?;
                if size > MAX_TRANSFER_BYTES {
                    return Err(self.err(
                        bytes.span(),
                        format!("a transfer moves at most 1 TB ({MAX_TRANSFER_BYTES} bytes): every packet is simulated, so {size} bytes would not finish in useful time"),
                    ));
                }
                let direction = match &raw.direction {
                    Some(d) => match d.get_ref().as_str() {
                        "upload" => Direction::Upload,
                        "download" => Direction::Download,
                        other => {
                            return Err(self.err(
                                d.span(),
                                format!("`{other}` is not a direction: use `upload` or `download`"),
                            ));
                        }
                    },
                    None => Direction::Upload,
                };
                let streams = match &raw.streams {
                    Some(s) => u32::try_from(*s.get_ref())
                        .ok()
                        .filter(|n| (1..=1024).contains(n))
                        .ok_or_else(|| self.err(s.span(), "`streams` must be 1 to 1024"))?,
                    None => 1,
                };
                Action::Transfer {
                    target: target.get_ref().clone(),
                    from: self.origin(raw.from.as_ref(), whole, "transfer")?,
                    bytes: size,
                    direction,
                    streams,
                }
            }
            "create_endpoint" => {
                let create = raw.create_endpoint.as_ref().expect("present");
                let c = create.get_ref();
                let name = c.name.get_ref();
                // The name is bound when the step runs and the create succeeds; a name
                // may be created again (after a failed create, or a delete).
                self.endpoints.insert(name.clone());
                if !self.topology.vpcs.contains_key(c.vpc.get_ref()) {
                    return Err(self
                        .loader
                        .unknown(&c.vpc, "VPC", self.topology.vpcs.keys()));
                }
                Action::CreateEndpoint(create_request(
                    name,
                    c.vpc.get_ref(),
                    c.service.get_ref(),
                    &c.subnets,
                    c.security_groups.as_ref(),
                    c.private_dns.as_ref(),
                    c.policy.as_ref(),
                    c.tags.as_ref(),
                    c.id.as_ref(),
                    c.dns_suffix.as_ref(),
                ))
            }
            "modify_endpoint" => {
                let endpoint = self.endpoint(raw.modify_endpoint.as_ref().expect("present"))?;
                let list = |v: &Option<S<Vec<S<String>>>>| -> Vec<String> {
                    v.as_ref()
                        .map(|l| l.get_ref().iter().map(|s| s.get_ref().clone()).collect())
                        .unwrap_or_default()
                };
                Action::ModifyEndpoint {
                    endpoint,
                    change: ModifyEndpoint {
                        add_subnets: list(&raw.add_subnets),
                        remove_subnets: list(&raw.remove_subnets),
                        add_security_groups: list(&raw.add_security_groups),
                        remove_security_groups: list(&raw.remove_security_groups),
                        private_dns: raw.private_dns.as_ref().map(|p| *p.get_ref()),
                        policy: raw.policy.as_ref().map(|p| p.get_ref().clone()),
                    },
                }
            }
            "delete_endpoint" => Action::DeleteEndpoint(
                self.endpoint(raw.delete_endpoint.as_ref().expect("present"))?,
            ),
            "accept" => Action::Accept(self.endpoint(raw.accept.as_ref().expect("present"))?),
            "reject" => Action::Reject(self.endpoint(raw.reject.as_ref().expect("present"))?),
            "describe_endpoint" => Action::DescribeEndpoint(
                self.endpoint(raw.describe_endpoint.as_ref().expect("present"))?,
            ),
            "set_vpc" => {
                let vpc = raw.set_vpc.as_ref().expect("present");
                if !self.topology.vpcs.contains_key(vpc.get_ref()) {
                    return Err(self.loader.unknown(vpc, "VPC", self.topology.vpcs.keys()));
                }
                Action::SetVpc {
                    vpc: vpc.get_ref().clone(),
                    dns_support: raw.dns_support.as_ref().map(|b| *b.get_ref()),
                    dns_hostnames: raw.dns_hostnames.as_ref().map(|b| *b.get_ref()),
                }
            }
            "set_security_group" => {
                let name = raw.set_security_group.as_ref().expect("present");
                let topology = &self.topology;
                let key = self.loader.group_key(
                    name,
                    None,
                    (&topology.vpcs, &topology.security_groups),
                    "security group",
                )?;
                let vpc = topology.security_groups[&key].vpc.clone();
                Action::SetSecurityGroup {
                    group: key,
                    ingress: raw
                        .ingress
                        .as_ref()
                        .map(|r| {
                            self.loader.sg_rules(
                                r.get_ref(),
                                &vpc,
                                (&topology.vpcs, &topology.security_groups),
                            )
                        })
                        .transpose()?,
                    egress: raw
                        .egress
                        .as_ref()
                        .map(|r| {
                            self.loader.sg_rules(
                                r.get_ref(),
                                &vpc,
                                (&topology.vpcs, &topology.security_groups),
                            )
                        })
                        .transpose()?,
                }
            }
            "set_nacl" => {
                let name = raw.set_nacl.as_ref().expect("present");
                let key = self.loader.group_key(
                    name,
                    None,
                    (&self.topology.vpcs, &self.topology.nacls),
                    "network ACL",
                )?;
                Action::SetNacl {
                    nacl: key,
                    inbound: raw
                        .inbound
                        .as_ref()
                        .map(|r| self.loader.nacl_entries(r.get_ref(), "inbound"))
                        .transpose()?,
                    outbound: raw
                        .outbound
                        .as_ref()
                        .map(|r| self.loader.nacl_entries(r.get_ref(), "outbound"))
                        .transpose()?,
                }
            }
            "describe_service" => {
                let topology = &self.topology;
                let account = match &raw.account {
                    Some(a) if topology.accounts.contains_key(a.get_ref()) => a.get_ref().clone(),
                    Some(a) => {
                        return Err(self.loader.unknown(a, "account", topology.accounts.keys()));
                    }
                    None => topology.accounts.keys().next().cloned().unwrap_or_default(),
                };
                Action::DescribeService {
                    service: text(&raw.describe_service),
                    account,
                }
            }
            "wait" => {
                let wait = raw.wait.as_ref().expect("present");
                Action::Wait(parse_duration(wait.get_ref()).map_err(|e| self.err(wait.span(), e))?)
            }
            "notifications" => Action::Notifications(text(&raw.notifications)),
            other => unreachable!("unknown action key {other}"),
        })
    }

    fn endpoint(&self, name: &S<String>) -> Result<String> {
        if self.endpoints.contains(name.get_ref()) {
            Ok(name.get_ref().clone())
        } else {
            let mut known: Vec<&String> = self.endpoints.iter().collect();
            known.sort();
            Err(self.loader.unknown(name, "endpoint", known.into_iter()))
        }
    }

    fn host(&self, from: Option<&S<String>>, whole: &Range<usize>, action: &str) -> Result<String> {
        let Some(from) = from else {
            return Err(self.err(
                whole.clone(),
                format!("`{action}` needs `from`: the instance or on-premises host that acts"),
            ));
        };
        let topology = &self.topology;
        let known = topology.instances.contains_key(from.get_ref())
            || topology
                .onprem
                .values()
                .any(|n| n.hosts.contains_key(from.get_ref()));
        if known {
            return Ok(from.get_ref().clone());
        }
        let hosts: Vec<&String> = topology
            .instances
            .keys()
            .chain(topology.onprem.values().flat_map(|n| n.hosts.keys()))
            .collect();
        Err(self
            .loader
            .unknown(from, "instance or on-premises host", hosts.into_iter()))
    }

    fn origin(
        &self,
        from: Option<&S<String>>,
        whole: &Range<usize>,
        action: &str,
    ) -> Result<Origin> {
        if let Some(service) = from.and_then(|f| f.get_ref().strip_prefix("service:")) {
            let topology = &self.topology;
            if topology.services.contains_key(service)
                || crate::catalog::lookup(&topology.region, service).is_some()
            {
                return Ok(Origin::Service(service.to_string()));
            }
            let from = from.expect("checked");
            return Err(self.err(
                from.span(),
                format!("unknown service `{service}` in `{}`", from.get_ref()),
            ));
        }
        self.host(from, whole, action).map(Origin::Host)
    }

    /// `HOST:PORT` with a port, and placeholders that name known endpoints.
    fn check_target(&self, target: &S<String>) -> Result<()> {
        let text = target.get_ref();
        let port_ok = text
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(self.err(
                target.span(),
                format!(
                    "`{text}` is not HOST:PORT (such as \"{{kinesis}}:443\" or \"10.0.1.5:443\")"
                ),
            ));
        }
        self.check_placeholders(target)
    }

    fn check_placeholders(&self, text: &S<String>) -> Result<()> {
        let pieces = super::expand::pieces(text.get_ref()).map_err(|m| self.err(text.span(), m))?;
        for piece in pieces {
            let super::expand::Piece::Placeholder { inner, name, az } = piece else {
                continue;
            };
            if !self.endpoints.contains(name) {
                return Err(self.endpoint_problem(name, text.span(), format!("placeholder `{{{inner}}}` names no endpoint declared or created before this step")));
            }
            if let Some(az) = az {
                let region = self.topology.region.name();
                let ok = az
                    .strip_prefix(region)
                    .is_some_and(|r| r.len() == 1 && r.bytes().all(|b| b.is_ascii_lowercase()));
                if !ok {
                    return Err(self.err(
                        text.span(),
                        format!("placeholder `{{{inner}}}`: `{az}` is not an AZ name of {region}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn expect(&self, index: usize, action: &Action, raw: &S<RawExpect>) -> Result<Expect> {
        let e = raw.get_ref();
        let allowed: &[&str] = match action {
            Action::Resolve { .. } => &["rcode", "answers", "count", "ttl"],
            Action::Connect { .. } => &["outcome", "blocked_by"],
            Action::Transfer { .. } => &["outcome", "blocked_by", "gbps", "seconds", "tolerance"],
            Action::CreateEndpoint(_)
            | Action::DeleteEndpoint(_)
            | Action::Accept(_)
            | Action::Reject(_) => &["ok", "error", "state"],
            Action::ModifyEndpoint { .. } | Action::SetVpc { .. } => &["ok", "error"],
            Action::SetSecurityGroup { .. } | Action::SetNacl { .. } => &["ok"],
            Action::DescribeEndpoint(_) => &["state", "dns_names", "private_dns", "subnets"],
            Action::DescribeService { .. } => &["azs", "error"],
            Action::Wait(_) => &[],
            Action::Notifications(_) => &["events"],
        };
        for (key, span) in expect_keys_of(e) {
            if !allowed.contains(&key) {
                let hint = if allowed.is_empty() {
                    "it checks nothing".to_string()
                } else {
                    format!("it checks {}", backticked(allowed))
                };
                return Err(self.err(
                    span,
                    format!(
                        "step {index}: `expect.{key}` does not apply to `{}`: {hint}",
                        action.key()
                    ),
                ));
            }
        }
        let count = |v: &Option<S<i64>>, key: &str| -> Result<Option<u64>> {
            v.as_ref()
                .map(|n| {
                    u64::try_from(*n.get_ref())
                        .map_err(|_| self.err(n.span(), format!("`{key}` must be 0 or more")))
                })
                .transpose()
        };
        let mut expect = Expect {
            count: count(&e.count, "count")?,
            dns_names: count(&e.dns_names, "dns_names")?,
            subnets: count(&e.subnets, "subnets")?,
            ok: e.ok.as_ref().map(|b| *b.get_ref()),
            error: e.error.as_ref().map(|s| s.get_ref().clone()),
            private_dns: e.private_dns.as_ref().map(|b| *b.get_ref()),
            azs: e
                .azs
                .as_ref()
                .map(|l| l.get_ref().iter().map(|s| s.get_ref().clone()).collect()),
            ..Expect::default()
        };
        if let (Some(ok), Some(_)) = (&e.ok, &e.error)
            && *ok.get_ref()
        {
            return Err(self.err(
                ok.span(),
                "`ok = true` contradicts `error`: an action that fails is not ok",
            ));
        }
        if let Some(ttl) = &e.ttl {
            expect.ttl = Some(
                u32::try_from(*ttl.get_ref())
                    .map_err(|_| self.err(ttl.span(), "`ttl` must be 0 to 2147483647"))?,
            );
        }
        if let Some(rcode) = &e.rcode {
            expect.rcode = Some(Rcode::parse(rcode.get_ref()).ok_or_else(|| {
                self.err(rcode.span(), format!("`{}` is not an rcode vpcesim checks: use NOERROR, NXDOMAIN, REFUSED or SERVFAIL", rcode.get_ref()))
            })?);
        }
        if let Some(answers) = &e.answers {
            expect.answers = Some(self.answers(answers)?);
        }
        if let Some(outcome) = &e.outcome {
            let parsed = Outcome::parse(outcome.get_ref())
                .filter(|o| *o != Outcome::Completed || matches!(action, Action::Transfer { .. }))
                .ok_or_else(|| {
                    let valid = if matches!(action, Action::Transfer { .. }) {
                        "completed, connected, timeout, refused or unresolved"
                    } else {
                        "connected, timeout, refused or unresolved"
                    };
                    self.err(
                        outcome.span(),
                        format!(
                            "`{}` is not an outcome of `{}`: use {valid}",
                            outcome.get_ref(),
                            action.key()
                        ),
                    )
                })?;
            expect.outcome = Some(parsed);
        }
        if let Some(blocked) = &e.blocked_by {
            expect.blocked_by = Some(self.blocked_by(blocked.get_ref())?);
        }
        for (value, slot, key) in [
            (&e.gbps, &mut expect.gbps, "gbps"),
            (&e.seconds, &mut expect.seconds, "seconds"),
        ] {
            if let Some(v) = value {
                *slot = Some(self.loader.positive(v, key)?);
            }
        }
        if let Some(t) = &e.tolerance {
            if !(t.get_ref().is_finite() && (0.0..1.0).contains(t.get_ref())) {
                return Err(self.err(t.span(), "`tolerance` is relative: a number from 0 up to (not including) 1, such as 0.05"));
            }
            expect.tolerance = *t.get_ref();
        }
        if let Some(state) = &e.state {
            let parsed = EndpointState::parse(state.get_ref())
                .filter(|s| s.as_str() == state.get_ref())
                .ok_or_else(|| {
                    self.err(state.span(), format!("`{}` is not an endpoint state: use pendingAcceptance, pending, available, rejected, deleting, deleted or failed", state.get_ref()))
                })?;
            expect.state = Some(parsed);
        }
        if let Some(events) = &e.events {
            let mut list = Vec::new();
            for event in events.get_ref() {
                if crate::model::ConnectionEvent::parse(event.get_ref()).is_none() {
                    return Err(self.err(
                        event.span(),
                        format!(
                            "`{}` is not a connection event: use Connect, Accept, Reject or Delete",
                            event.get_ref()
                        ),
                    ));
                }
                list.push(event.get_ref().clone());
            }
            expect.events = Some(list);
        }
        if let Some(azs) = &e.azs {
            for az in azs.get_ref() {
                let region = self.topology.region.name();
                if az
                    .get_ref()
                    .strip_prefix(region)
                    .is_none_or(|r| r.len() != 1)
                {
                    return Err(self.err(
                        az.span(),
                        format!("`{}` is not an AZ name of {region}", az.get_ref()),
                    ));
                }
            }
        }
        Ok(expect)
    }

    fn answers(&self, raw: &S<RawAnswers>) -> Result<Answers> {
        match raw.get_ref() {
            RawAnswers::List(list) => list
                .iter()
                .map(|a| {
                    a.parse::<Ipv4Addr>().map_err(|_| {
                        self.err(
                            raw.span(),
                            format!("`{a}` in `answers` is not an IPv4 address"),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Answers::Addresses),
            RawAnswers::Text(text) => match text.as_str() {
                "public" => Ok(Answers::Public),
                "none" => Ok(Answers::None),
                _ => {
                    let Some(rest) = text.strip_prefix("endpoint:") else {
                        return Err(self.err(raw.span(), format!("`{text}` is not an answer set: use a list of addresses, \"endpoint:NAME\", \"endpoint:NAME:AZ\", \"public\" or \"none\"")));
                    };
                    let (name, az) = match rest.split_once(':') {
                        Some((n, az)) => (n, Some(az)),
                        None => (rest, None),
                    };
                    if !self.endpoints.contains(name) {
                        return Err(self.endpoint_problem(name, raw.span(), format!("`answers` names endpoint `{name}`, which no earlier step declares or creates")));
                    }
                    Ok(match az {
                        Some(az) => Answers::EndpointAz(name.to_string(), az.to_string()),
                        None => Answers::Endpoint(name.to_string()),
                    })
                }
            },
        }
    }

    fn blocked_by(&self, raw: &RawBlockedBy) -> Result<BlockedBy> {
        let kind = match &raw.kind {
            Some(k) if !BLOCK_KINDS.contains(&k.get_ref().as_str()) => {
                return Err(self.err(
                    k.span(),
                    format!(
                        "`{}` is not a kind of block: use {}",
                        k.get_ref(),
                        BLOCK_KINDS.join(", ")
                    ),
                ));
            }
            k => k.as_ref().map(|k| k.get_ref().clone()),
        };
        let direction = match &raw.direction {
            Some(d)
                if !["ingress", "egress", "inbound", "outbound"]
                    .contains(&d.get_ref().as_str()) =>
            {
                return Err(self.err(d.span(), format!("`{}` is not a direction: use ingress or egress (security groups), inbound or outbound (NACLs)", d.get_ref())));
            }
            d => d.as_ref().map(|d| d.get_ref().clone()),
        };
        let rule = match &raw.rule {
            Some(r) => Some(match r.get_ref() {
                RawRuleRef::Number(n) if (1..=32766).contains(n) => n.to_string(),
                RawRuleRef::Text(t) if t == "*" => "*".to_string(),
                _ => {
                    return Err(self.err(
                        r.span(),
                        "`rule` is a NACL rule number (1 to 32766) or \"*\"",
                    ));
                }
            }),
            None => None,
        };
        if let Some(subnet) = &raw.subnet
            && !self.topology.subnets.contains_key(subnet.get_ref())
        {
            return Err(self
                .loader
                .unknown(subnet, "subnet", self.topology.subnets.keys()));
        }
        Ok(BlockedBy {
            kind,
            direction,
            name: raw.name.as_ref().map(|n| n.get_ref().clone()),
            rule,
            subnet: raw.subnet.as_ref().map(|s| s.get_ref().clone()),
        })
    }
}

/// The `expect` keys that can make a network step fail (`tolerance` alone checks
/// nothing).
fn checking_keys(action: &str) -> Option<&'static [&'static str]> {
    match action {
        "resolve" => Some(&["rcode", "answers", "count", "ttl"]),
        "connect" => Some(&["outcome", "blocked_by"]),
        "transfer" => Some(&["outcome", "blocked_by", "gbps", "seconds"]),
        _ => None,
    }
}

/// Every action key, in the contract's order.
const ACTION_KEYS: &[&str] = &[
    "resolve",
    "connect",
    "transfer",
    "create_endpoint",
    "modify_endpoint",
    "delete_endpoint",
    "accept",
    "reject",
    "set_vpc",
    "set_security_group",
    "set_nacl",
    "describe_endpoint",
    "describe_service",
    "wait",
    "notifications",
];

fn actions_of(raw: &RawStep) -> Vec<Present> {
    let spans: [(&'static str, Option<Range<usize>>); 15] = [
        ("resolve", raw.resolve.as_ref().map(S::span)),
        ("connect", raw.connect.as_ref().map(S::span)),
        ("transfer", raw.transfer.as_ref().map(S::span)),
        ("create_endpoint", raw.create_endpoint.as_ref().map(S::span)),
        ("modify_endpoint", raw.modify_endpoint.as_ref().map(S::span)),
        ("delete_endpoint", raw.delete_endpoint.as_ref().map(S::span)),
        ("accept", raw.accept.as_ref().map(S::span)),
        ("reject", raw.reject.as_ref().map(S::span)),
        ("set_vpc", raw.set_vpc.as_ref().map(S::span)),
        (
            "set_security_group",
            raw.set_security_group.as_ref().map(S::span),
        ),
        ("set_nacl", raw.set_nacl.as_ref().map(S::span)),
        (
            "describe_endpoint",
            raw.describe_endpoint.as_ref().map(S::span),
        ),
        (
            "describe_service",
            raw.describe_service.as_ref().map(S::span),
        ),
        ("wait", raw.wait.as_ref().map(S::span)),
        ("notifications", raw.notifications.as_ref().map(S::span)),
    ];
    let mut present: Vec<Present> = spans
        .into_iter()
        .filter_map(|(key, span)| span.map(|span| Present { key, span }))
        .collect();
    present.sort_by_key(|p| p.span.start);
    present
}

fn parameters_of(raw: &RawStep) -> Vec<(&'static str, Range<usize>)> {
    let spans: [(&'static str, Option<Range<usize>>); 19] = [
        ("from", raw.from.as_ref().map(S::span)),
        ("type", raw.record_type.as_ref().map(S::span)),
        ("proto", raw.proto.as_ref().map(S::span)),
        ("timeout", raw.timeout.as_ref().map(S::span)),
        ("bytes", raw.bytes.as_ref().map(S::span)),
        ("direction", raw.direction.as_ref().map(S::span)),
        ("streams", raw.streams.as_ref().map(S::span)),
        ("add_subnets", raw.add_subnets.as_ref().map(S::span)),
        ("remove_subnets", raw.remove_subnets.as_ref().map(S::span)),
        (
            "add_security_groups",
            raw.add_security_groups.as_ref().map(S::span),
        ),
        (
            "remove_security_groups",
            raw.remove_security_groups.as_ref().map(S::span),
        ),
        ("private_dns", raw.private_dns.as_ref().map(S::span)),
        ("policy", raw.policy.as_ref().map(S::span)),
        ("dns_support", raw.dns_support.as_ref().map(S::span)),
        ("dns_hostnames", raw.dns_hostnames.as_ref().map(S::span)),
        ("ingress", raw.ingress.as_ref().map(S::span)),
        ("egress", raw.egress.as_ref().map(S::span)),
        ("inbound", raw.inbound.as_ref().map(S::span)),
        ("outbound", raw.outbound.as_ref().map(S::span)),
    ];
    let mut out: Vec<_> = spans
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect();
    if let Some(a) = &raw.account {
        out.push(("account", a.span()));
    }
    out
}

fn expect_keys_of(e: &RawExpect) -> Vec<(&'static str, Range<usize>)> {
    let spans: [(&'static str, Option<Range<usize>>); 17] = [
        ("rcode", e.rcode.as_ref().map(S::span)),
        ("answers", e.answers.as_ref().map(S::span)),
        ("count", e.count.as_ref().map(S::span)),
        ("ttl", e.ttl.as_ref().map(S::span)),
        ("outcome", e.outcome.as_ref().map(S::span)),
        ("blocked_by", e.blocked_by.as_ref().map(S::span)),
        ("gbps", e.gbps.as_ref().map(S::span)),
        ("seconds", e.seconds.as_ref().map(S::span)),
        ("tolerance", e.tolerance.as_ref().map(S::span)),
        ("ok", e.ok.as_ref().map(S::span)),
        ("error", e.error.as_ref().map(S::span)),
        ("state", e.state.as_ref().map(S::span)),
        ("dns_names", e.dns_names.as_ref().map(S::span)),
        ("private_dns", e.private_dns.as_ref().map(S::span)),
        ("subnets", e.subnets.as_ref().map(S::span)),
        ("azs", e.azs.as_ref().map(S::span)),
        ("events", e.events.as_ref().map(S::span)),
    ];
    spans
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect()
}

/// `keys` as a list for a message: `` `a`, `b` ``.
fn backticked(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
