//! Turns a scenario file into a topology, a control plane and validated steps.
//!
//! Every check that fails points at the key or value responsible, so a network
//! engineer sees `file:line:column: what is wrong` and can fix it there.

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use super::Scenario;
use super::error::{Diagnostic, LineIndex, LoadError};
use super::raw::*;
use super::steps::StepLoader;
use super::units::parse_duration;
use crate::catalog;
use crate::control::alloc::Allocator;
use crate::control::service::provider_service_name;
use crate::control::{ApiError, ControlPlane, CreateEndpoint, ErrorCode};
use crate::model::ids::is_valid_id;
use crate::model::*;

/// The account every object belongs to when a file declares none.
pub const DEFAULT_ACCOUNT_ID: &str = "111111111111";

/// The result of one check: the first problem it found stops it.
pub(super) type Result<T> = std::result::Result<T, Diagnostic>;

/// Parses and validates `source`, read from `file`, and reports every problem: a TOML
/// syntax or shape error stops the file at once, but each object and each step is
/// checked on its own, so one bad VPC or step does not hide the problems of the others.
pub fn parse(file: &Path, source: &str) -> std::result::Result<Scenario, LoadError> {
    let raw: RawScenario = toml::from_str(source).map_err(|e| {
        let message = e.message().trim().to_string();
        let problem = match e.span() {
            Some(span) => Diagnostic::at(file, source, span, message),
            None => Diagnostic::whole_file(file, message),
        };
        LoadError::new(file, source, vec![problem])
    })?;
    Loader::new(file, source).load(raw)
}

pub(super) struct Loader<'a> {
    pub(super) file: &'a Path,
    pub(super) source: &'a str,
    lines: LineIndex,
    pub(super) topology: Topology,
    /// Every problem found so far.
    problems: RefCell<Vec<Diagnostic>>,
    /// Objects (kind, name) that did not load: a later reference to one is a
    /// consequence, not a problem of its own.
    failed: RefCell<HashSet<(String, String)>>,
}

impl<'a> Loader<'a> {
    fn new(file: &'a Path, source: &'a str) -> Self {
        Self {
            file,
            source,
            lines: LineIndex::new(source),
            topology: Topology::default(),
            problems: RefCell::new(Vec::new()),
            failed: RefCell::new(HashSet::new()),
        }
    }

    pub(super) fn err(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let position = self.lines.position(self.source, span.start);
        Diagnostic::at_position(self.file, span, position, message)
    }

    /// The value of a check, or `None` after recording its problem.
    pub(super) fn collect<T>(&self, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(problem) => {
                if !problem.follows {
                    self.problems.borrow_mut().push(problem);
                }
                None
            }
        }
    }

    /// Loads one object of `kind` with `load`; if it fails, its problem is recorded and
    /// the object is remembered as one that did not load.
    fn each(&mut self, kind: &str, name: &S<String>, load: impl FnOnce(&mut Self) -> Result<()>) {
        let result = load(self);
        if self.collect(result).is_none() {
            self.mark_failed(kind, name.get_ref());
        }
    }

    fn mark_failed(&self, kind: &str, name: &str) {
        self.failed
            .borrow_mut()
            .insert((kind.to_string(), name.to_string()));
    }

    /// Whether the file declares an object `name` of `kind` that did not load.
    pub(super) fn did_not_load(&self, kind: &str, name: &str) -> bool {
        self.failed
            .borrow()
            .contains(&(kind.to_string(), name.to_string()))
    }

    /// The 1-based line of byte `offset`.
    pub(super) fn line_of(&self, offset: usize) -> usize {
        self.lines.position(self.source, offset).0
    }

    /// The value of `key`, which must be a finite number above 0.
    pub(super) fn positive(&self, value: &S<f64>, key: &str) -> Result<f64> {
        let v = *value.get_ref();
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(self.err(value.span(), format!("`{key}` must be a number above 0")))
        }
    }

    fn load(mut self, raw: RawScenario) -> std::result::Result<Scenario, LoadError> {
        if raw.name.get_ref().trim().is_empty() {
            self.collect::<()>(Err(self.err(raw.name.span(), "`name` must not be empty")));
        }
        if let Some(region) = &raw.region {
            let parsed =
                Region::parse(region.get_ref()).map_err(|e| self.err(region.span(), e.to_string()));
            if let Some(parsed) = self.collect(parsed) {
                self.topology.region = parsed;
            }
        }
        let seed = match &raw.seed {
            Some(seed) => self
                .collect(u64::try_from(*seed.get_ref()).map_err(|_| {
                    self.err(seed.span(), "`seed` must be a whole number of 0 or more")
                }))
                .unwrap_or(0),
            None => 0,
        };
        let provisioning = match &raw.provisioning {
            Some(p) => self
                .collect(parse_duration(p.get_ref()).map_err(|e| self.err(p.span(), e)))
                .unwrap_or(Duration::ZERO),
            None => Duration::ZERO,
        };
        if let Some(bandwidth) = &raw.bandwidth {
            let result = self.load_bandwidth(bandwidth.get_ref());
            self.collect(result);
        }
        self.load_accounts(&raw.accounts);
        let ids = IdGen::new(seed);
        self.load_vpcs(&raw.vpcs, &ids);
        self.load_nacls(&raw.nacls, &ids);
        self.load_subnets(&raw.subnets, &ids);
        self.load_security_groups(&raw.security_groups, &ids);
        self.load_instances(&raw.instances, &ids);
        self.load_onprem(&raw.onprem);
        self.load_services(&raw.services, &ids);
        self.load_backends(&raw.backends);

        let mut control = ControlPlane::new(std::mem::take(&mut self.topology), seed, provisioning);
        let (before, after): (Vec<_>, Vec<_>) = raw
            .notifications
            .iter()
            .partition(|n| n.get_ref().service.is_some());
        for notification in &before {
            self.collect(self.load_notification(&mut control, notification));
        }
        for (name, endpoint) in &raw.endpoints {
            if self
                .collect(self.load_endpoint(&mut control, name, endpoint))
                .is_none()
            {
                self.mark_failed("endpoint", name.get_ref());
            }
        }
        for notification in &after {
            self.collect(self.load_notification(&mut control, notification));
        }
        control.advance(Duration::ZERO);

        let steps = StepLoader::new(&self, control.topology()).load(&raw.steps);
        let problems = self.problems.into_inner();
        if !problems.is_empty() {
            return Err(LoadError::new(self.file, self.source, problems));
        }
        Ok(Scenario {
            name: raw.name.into_inner(),
            description: raw.description,
            file: self.file.to_path_buf(),
            seed,
            provisioning,
            control,
            steps,
        })
    }

    fn load_bandwidth(&mut self, raw: &RawBandwidth) -> Result<()> {
        let mut bandwidth = Bandwidth::default();
        for (value, slot, key) in [
            (&raw.per_az_gbps, &mut bandwidth.per_az_gbps, "per_az_gbps"),
            (&raw.burst_mbit, &mut bandwidth.burst_mbit, "burst_mbit"),
        ] {
            if let Some(v) = value {
                *slot = self.positive(v, key)?;
            }
        }
        self.topology.bandwidth = bandwidth;
        Ok(())
    }

    fn load_accounts(&mut self, accounts: &Named<RawAccount>) {
        if accounts.is_empty() {
            let az_ids = Account::build_az_map(&self.topology.region, &IndexMap::new());
            self.topology.accounts.insert(
                "default".into(),
                Account {
                    name: "default".into(),
                    id: DEFAULT_ACCOUNT_ID.into(),
                    az_ids,
                    access_keys: Vec::new(),
                },
            );
            return;
        }
        let mut seen_ids = HashSet::new();
        for (name, raw) in accounts {
            self.each("account", name, |this| {
                let raw = raw.get_ref();
                let id = raw.id.get_ref();
                if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(this.err(
                        raw.id.span(),
                        format!("account id `{id}` must be 12 digits"),
                    ));
                }
                if !seen_ids.insert(id.clone()) {
                    return Err(this.err(
                        raw.id.span(),
                        format!("account id `{id}` is used by another account"),
                    ));
                }
                let mut explicit = IndexMap::new();
                let mut seen_az_ids = HashSet::new();
                for (az, az_id) in raw.az_ids.iter().flatten() {
                    this.check_az_name(az)?;
                    let prefix = this.topology.region.az_id_prefix();
                    if !is_az_id_of(&prefix, az_id.get_ref()) {
                        return Err(this.err(
                            az_id.span(),
                            format!("`{}` is not an AZ ID of {} (expected `{prefix}-az1`, `{prefix}-az2`, ...)", az_id.get_ref(), this.topology.region),
                        ));
                    }
                    if !seen_az_ids.insert(az_id.get_ref().clone()) {
                        return Err(this.err(
                            az_id.span(),
                            format!(
                                "AZ ID `{}` is mapped twice in this account",
                                az_id.get_ref()
                            ),
                        ));
                    }
                    explicit.insert(az.get_ref().clone(), az_id.get_ref().clone());
                }
                let az_ids = Account::build_az_map(&this.topology.region, &explicit);
                this.topology.accounts.insert(
                    name.get_ref().clone(),
                    Account {
                        name: name.get_ref().clone(),
                        id: id.clone(),
                        az_ids,
                        access_keys: raw
                            .access_keys
                            .iter()
                            .flatten()
                            .map(|k| k.get_ref().clone())
                            .collect(),
                    },
                );
                Ok(())
            });
        }
    }

    /// An AZ name must be of the file's Region: `us-east-1a` in a `us-east-1` file.
    fn check_az_name(&self, az: &S<String>) -> Result<()> {
        let region = self.topology.region.name();
        let name = az.get_ref();
        let is_ours = name
            .strip_prefix(region)
            .is_some_and(|rest| rest.len() == 1 && rest.bytes().all(|b| b.is_ascii_lowercase()));
        if is_ours {
            return Ok(());
        }
        let other_region = name
            .get(..name.len().saturating_sub(1))
            .and_then(|r| Region::parse(r).ok());
        Err(match other_region {
            Some(other) => self.err(
                az.span(),
                format!("AZ `{name}` is in {other}, but this file's Region is {region} (set `region = \"{other}\"` at the top, or use a {region} zone)"),
            ),
            None => self.err(az.span(), format!("`{name}` is not an AZ name of {region} (expected `{region}a`, `{region}b`, ...)")),
        })
    }

    /// The account an object names, or the only one when it names none.
    fn owner(
        &self,
        account: Option<&S<String>>,
        what: &str,
        whole: Range<usize>,
    ) -> Result<String> {
        match account {
            Some(name) => {
                if self.topology.accounts.contains_key(name.get_ref()) {
                    Ok(name.get_ref().clone())
                } else {
                    Err(self.unknown(name, "account", self.topology.accounts.keys()))
                }
            }
            None if self.topology.accounts.len() == 1 => Ok(self
                .topology
                .accounts
                .keys()
                .next()
                .cloned()
                .unwrap_or_default()),
            None => Err(self.err(
                whole,
                format!("{what} must name its `account`: this file declares several accounts"),
            )),
        }
    }

    pub(super) fn unknown<'k>(
        &self,
        name: &S<String>,
        kind: &str,
        known: impl Iterator<Item = &'k String>,
    ) -> Diagnostic {
        if self.did_not_load(kind, name.get_ref()) {
            return self
                .err(name.span(), format!("`{}` did not load", name.get_ref()))
                .following();
        }
        let known: Vec<&str> = known.map(String::as_str).collect();
        let hint = if known.is_empty() {
            format!("the file declares no {kind}")
        } else {
            format!("known: {}", known.join(", "))
        };
        self.err(
            name.span(),
            format!("unknown {kind} `{}` ({hint})", name.get_ref()),
        )
    }

    fn object_id(
        &self,
        given: Option<&S<String>>,
        prefix: &str,
        name: &str,
        ids: &IdGen,
        taken: &HashSet<String>,
    ) -> Result<String> {
        match given {
            Some(id) => {
                if !is_valid_id(prefix, id.get_ref()) {
                    return Err(self.err(
                        id.span(),
                        format!("`{}` is not a valid ID: expected `{prefix}-` and 8 or 17 lowercase hex digits", id.get_ref()),
                    ));
                }
                if taken.contains(id.get_ref()) {
                    return Err(self.err(id.span(), format!("ID `{}` is used twice", id.get_ref())));
                }
                Ok(id.get_ref().clone())
            }
            None => Ok((0..)
                .map(|attempt| ids.id(prefix, name, attempt))
                .find(|id| !taken.contains(id))
                .unwrap_or_default()),
        }
    }

    fn load_vpcs(&mut self, vpcs: &Named<RawVpc>, ids: &IdGen) {
        let mut taken = HashSet::new();
        for (name, raw) in vpcs {
            self.each("VPC", name, |this| {
                let (whole, raw) = (raw.span(), raw.get_ref());
                check_name(this, name)?;
                let account = this.owner(
                    raw.account.as_ref(),
                    &format!("VPC `{}`", name.get_ref()),
                    whole,
                )?;
                let cidr = this.cidr(&raw.cidr)?;
                this.check_usable_range(&raw.cidr, cidr, "VPC CIDR")?;
                if !(16..=28).contains(&cidr.prefix_len()) {
                    return Err(this.err(
                        raw.cidr.span(),
                        format!("VPC CIDR `{cidr}` must be between /16 and /28, as in AWS"),
                    ));
                }
                let id = this.object_id(raw.id.as_ref(), "vpc", name.get_ref(), ids, &taken)?;
                taken.insert(id.clone());
                let vpc_name = name.get_ref().clone();
                this.topology.vpcs.insert(
                    vpc_name.clone(),
                    Vpc {
                        name: vpc_name.clone(),
                        id,
                        account,
                        cidr,
                        dns_support: raw.dns_support.unwrap_or(true),
                        dns_hostnames: raw.dns_hostnames.unwrap_or(false),
                    },
                );
                let key = format!("{vpc_name}/default");
                this.topology.security_groups.insert(
                    key.clone(),
                    SecurityGroup {
                        key: key.clone(),
                        name: "default".into(),
                        id: ids.id("sg", &key, 0),
                        vpc: vpc_name.clone(),
                        ingress: vec![SgRule {
                            proto: Proto::All,
                            ports: PortRange::ALL,
                            peer: Peer::Group(key.clone()),
                        }],
                        egress: vec![allow_all_egress()],
                    },
                );
                let all = |rule| NaclEntry {
                    rule,
                    proto: Proto::All,
                    ports: PortRange::ALL,
                    cidr: Ipv4Net::default(),
                    action: RuleAction::Allow,
                };
                this.topology.nacls.insert(
                    key.clone(),
                    Nacl {
                        key: key.clone(),
                        name: "default".into(),
                        id: ids.id("acl", &key, 0),
                        vpc: vpc_name,
                        inbound: vec![all(100)],
                        outbound: vec![all(100)],
                    },
                );
                Ok(())
            });
        }
    }

    /// Parses an IPv4 CIDR that is a network address.
    pub(super) fn cidr(&self, text: &S<String>) -> Result<Ipv4Net> {
        let value = text.get_ref();
        let net: Ipv4Net = value.parse().map_err(|_| {
            let hint = if value.contains(':') {
                "vpcesim models IPv4 only"
            } else {
                "expected an IPv4 CIDR such as 10.0.0.0/16"
            };
            self.err(
                text.span(),
                format!("`{value}` is not a valid CIDR: {hint}"),
            )
        })?;
        if net.network() != net.addr() {
            return Err(self.err(
                text.span(),
                format!(
                    "`{value}` has host bits set: did you mean `{}`?",
                    net.trunc()
                ),
            ));
        }
        Ok(net)
    }

    /// A VPC or on-premises range must not touch the address blocks that AWS refuses
    /// for a VPC (and that no private network routes): "this" network, loopback,
    /// link-local, multicast and the reserved block.
    fn check_usable_range(&self, text: &S<String>, cidr: Ipv4Net, what: &str) -> Result<()> {
        const RESERVED: &[(&str, &str)] = &[
            ("0.0.0.0/8", "\"this\" network"),
            ("127.0.0.0/8", "loopback"),
            ("169.254.0.0/16", "link-local"),
            ("224.0.0.0/4", "multicast"),
            ("240.0.0.0/4", "reserved"),
        ];
        for (block, kind) in RESERVED {
            let block: Ipv4Net = block.parse().expect("a valid CIDR");
            if block.contains(&cidr.network()) || cidr.contains(&block.network()) {
                return Err(self.err(
                    text.span(),
                    format!("{what} `{cidr}` lies in {block} ({kind} addresses), which AWS does not accept for a VPC: use a private range such as 10.0.0.0/16"),
                ));
            }
        }
        Ok(())
    }

    fn vpc_ref(&self, vpc: &S<String>) -> Result<String> {
        if self.topology.vpcs.contains_key(vpc.get_ref()) {
            Ok(vpc.get_ref().clone())
        } else {
            Err(self.unknown(vpc, "VPC", self.topology.vpcs.keys()))
        }
    }

    /// Resolves a security group or NACL reference to its key: a declared name,
    /// `VPC/default`, or `default` where one VPC is meant.
    /// The key in `table` (security groups or NACLs) of `name`, where `VPC/default` and,
    /// in a file with one VPC of `vpcs`, `default` name a VPC's default one.
    pub(super) fn group_key<T>(
        &self,
        name: &S<String>,
        vpc: Option<&str>,
        (vpcs, table): (&IndexMap<String, Vpc>, &IndexMap<String, T>),
        kind: &str,
    ) -> Result<String> {
        let text = name.get_ref();
        if text == "default" {
            let vpc = vpc.map(str::to_string).or_else(|| {
                (vpcs.len() == 1)
                    .then(|| vpcs.keys().next().cloned())
                    .flatten()
            });
            return match vpc {
                Some(vpc) => Ok(format!("{vpc}/default")),
                None if vpcs.is_empty() => Err(self
                    .err(name.span(), "no VPC loaded for `default`")
                    .following()),
                None => Err(self.err(
                    name.span(),
                    format!("`default` is ambiguous here: this file has several VPCs, so name the {kind} as `VPC/default`"),
                )),
            };
        }
        if table.contains_key(text) {
            return Ok(text.clone());
        }
        if let Some((vpc, rest)) = text.split_once('/')
            && rest == "default"
            && !vpcs.contains_key(vpc)
        {
            let problem = self.err(name.span(), format!("unknown VPC `{vpc}` in `{text}`"));
            return Err(if self.did_not_load("VPC", vpc) {
                problem.following()
            } else {
                problem
            });
        }
        let known = table.keys().filter(|k| !k.ends_with("/default"));
        Err(self.unknown(name, kind, known))
    }

    fn load_nacls(&mut self, nacls: &Named<RawNacl>, ids: &IdGen) {
        let mut taken = HashSet::new();
        for (name, raw) in nacls {
            self.each("network ACL", name, |this| {
                let raw = raw.get_ref();
                check_name(this, name)?;
                if name.get_ref() == "default" || name.get_ref().contains('/') {
                    return Err(this.err(name.span(), "`default` is the name of every VPC's implicit network ACL: give this one another name, or change the default's entries with a `set_nacl` step"));
                }
                let vpc = this.vpc_ref(&raw.vpc)?;
                let inbound =
                    this.nacl_entries(raw.inbound.as_deref().unwrap_or_default(), "inbound")?;
                let outbound =
                    this.nacl_entries(raw.outbound.as_deref().unwrap_or_default(), "outbound")?;
                let id = this.object_id(raw.id.as_ref(), "acl", name.get_ref(), ids, &taken)?;
                taken.insert(id.clone());
                this.topology.nacls.insert(
                    name.get_ref().clone(),
                    Nacl {
                        key: name.get_ref().clone(),
                        name: name.get_ref().clone(),
                        id,
                        vpc,
                        inbound,
                        outbound,
                    },
                );
                Ok(())
            });
        }
    }

    /// Validates NACL entries and sorts them by rule number.
    pub(super) fn nacl_entries(
        &self,
        raw: &[S<RawNaclEntry>],
        direction: &str,
    ) -> Result<Vec<NaclEntry>> {
        let mut out: Vec<NaclEntry> = Vec::new();
        for entry in raw {
            let entry = entry.get_ref();
            let number = *entry.rule.get_ref();
            if !(1..=32766).contains(&number) {
                return Err(self.err(
                    entry.rule.span(),
                    format!("NACL rule number {number} is out of range: use 1 to 32766"),
                ));
            }
            if out.iter().any(|e| i64::from(e.rule) == number) {
                return Err(self.err(
                    entry.rule.span(),
                    format!("rule number {number} appears twice in the {direction} entries: each rule number is used once per direction"),
                ));
            }
            let (proto, ports) = self.proto_ports(&entry.proto, entry.ports.as_ref())?;
            let action = match entry.action.get_ref().as_str() {
                "allow" => RuleAction::Allow,
                "deny" => RuleAction::Deny,
                other => {
                    return Err(self.err(
                        entry.action.span(),
                        format!("`{other}` is not a NACL action: use `allow` or `deny`"),
                    ));
                }
            };
            out.push(NaclEntry {
                rule: number as u16,
                proto,
                ports,
                cidr: self.cidr(&entry.cidr)?,
                action,
            });
        }
        out.sort_by_key(|e| e.rule);
        Ok(out)
    }

    fn proto_ports(
        &self,
        proto: &S<String>,
        ports: Option<&S<RawPorts>>,
    ) -> Result<(Proto, PortRange)> {
        let p = Proto::parse(proto.get_ref()).ok_or_else(|| {
            self.err(
                proto.span(),
                format!(
                    "`{}` is not a protocol: use `tcp`, `udp`, `icmp` or `all`",
                    proto.get_ref()
                ),
            )
        })?;
        if !p.has_ports() {
            if let Some(ports) = ports {
                return Err(self.err(
                    ports.span(),
                    format!(
                        "`ports` does not apply to a `{p}` rule: leave it out (it would be ignored)"
                    ),
                ));
            }
            return Ok((p, PortRange::ALL));
        }
        let Some(ports) = ports else {
            return Err(self.err(
                proto.span(),
                format!("a `{p}` rule needs `ports` (a number, or \"LOW-HIGH\")"),
            ));
        };
        let range = match ports.get_ref() {
            RawPorts::Number(n) => u16::try_from(*n)
                .map(PortRange::single)
                .map_err(|_| format!("port {n} is out of range: use 0 to 65535")),
            RawPorts::Text(t) => PortRange::parse(t),
        }
        .map_err(|e| self.err(ports.span(), e))?;
        Ok((p, range))
    }

    fn load_subnets(&mut self, subnets: &Named<RawSubnet>, ids: &IdGen) {
        let mut taken = HashSet::new();
        for (name, raw) in subnets {
            self.each("subnet", name, |this| {
                let (whole, raw) = (raw.span(), raw.get_ref());
                check_name(this, name)?;
                let vpc_name = this.vpc_ref(&raw.vpc)?;
                let vpc = this.topology.vpcs[&vpc_name].clone();
                let cidr = this.cidr(&raw.cidr)?;
                if !vpc.cidr.contains(&cidr) {
                    return Err(this.err(
                        raw.cidr.span(),
                        format!(
                            "subnet `{cidr}` is outside its VPC `{vpc_name}` ({})",
                            vpc.cidr
                        ),
                    ));
                }
                if cidr.prefix_len() > 28 {
                    return Err(this.err(
                        raw.cidr.span(),
                        format!("subnet `{cidr}` is smaller than /28, the smallest AWS allows"),
                    ));
                }
                if let Some(other) = this.topology.subnets.values().find(|s| {
                    s.vpc == vpc_name && (s.cidr.contains(&cidr) || cidr.contains(&s.cidr))
                }) {
                    return Err(this.err(
                        raw.cidr.span(),
                        format!(
                            "subnet `{cidr}` overlaps subnet `{}` ({})",
                            other.name, other.cidr
                        ),
                    ));
                }
                let account = &this.topology.accounts[&vpc.account];
                let (az_name, az_id) = match (&raw.az, &raw.az_id) {
                    (Some(az), None) => {
                        this.check_az_name(az)?;
                        let id = account.az_id(az.get_ref()).ok_or_else(|| {
                            this.err(
                                az.span(),
                                format!("account `{}` has no AZ `{}`", account.name, az.get_ref()),
                            )
                        })?;
                        (az.get_ref().clone(), id.to_string())
                    }
                    (None, Some(az_id)) => {
                        let name = account.az_name(az_id.get_ref()).ok_or_else(|| {
                            this.err(
                                az_id.span(),
                                format!(
                                    "account `{}` has no AZ with ID `{}`",
                                    account.name,
                                    az_id.get_ref()
                                ),
                            )
                        })?;
                        (name.to_string(), az_id.get_ref().clone())
                    }
                    (Some(az), Some(_)) => {
                        return Err(this.err(az.span(), "give either `az` or `az_id`, not both"));
                    }
                    (None, None) => {
                        return Err(this.err(
                            whole,
                            format!("subnet `{}` needs `az` (or `az_id`)", name.get_ref()),
                        ));
                    }
                };
                let nacl = match &raw.nacl {
                    Some(n) => {
                        let key = this.group_key(
                            n,
                            Some(&vpc_name),
                            (&this.topology.vpcs, &this.topology.nacls),
                            "network ACL",
                        )?;
                        if this.topology.nacls[&key].vpc != vpc_name {
                            return Err(this.err(
                                n.span(),
                                format!(
                                    "network ACL `{}` belongs to another VPC than `{vpc_name}`",
                                    n.get_ref()
                                ),
                            ));
                        }
                        key
                    }
                    None => format!("{vpc_name}/default"),
                };
                let id = this.object_id(raw.id.as_ref(), "subnet", name.get_ref(), ids, &taken)?;
                taken.insert(id.clone());
                this.topology.subnets.insert(
                    name.get_ref().clone(),
                    Subnet {
                        name: name.get_ref().clone(),
                        id,
                        vpc: vpc_name,
                        cidr,
                        az_name,
                        az_id,
                        nacl,
                    },
                );
                Ok(())
            });
        }
    }

    fn load_security_groups(&mut self, groups: &Named<RawSecurityGroup>, ids: &IdGen) {
        let mut taken = HashSet::new();
        // First every group, so that rules may refer to groups declared after them.
        for (name, raw) in groups {
            self.each("security group", name, |this| {
                let raw = raw.get_ref();
                check_name(this, name)?;
                if name.get_ref() == "default" || name.get_ref().contains('/') {
                    return Err(this.err(name.span(), "`default` is the name of every VPC's implicit security group: give this one another name, or change the default's rules with a `set_security_group` step"));
                }
                let vpc = this.vpc_ref(&raw.vpc)?;
                let id = this.object_id(raw.id.as_ref(), "sg", name.get_ref(), ids, &taken)?;
                taken.insert(id.clone());
                this.topology.security_groups.insert(
                    name.get_ref().clone(),
                    SecurityGroup {
                        key: name.get_ref().clone(),
                        name: name.get_ref().clone(),
                        id,
                        vpc,
                        ingress: Vec::new(),
                        egress: vec![allow_all_egress()],
                    },
                );
                Ok(())
            });
        }
        for (name, raw) in groups {
            if self.did_not_load("security group", name.get_ref()) {
                continue;
            }
            self.each("security group", name, |this| {
                let raw = raw.get_ref();
                let vpc = this.topology.security_groups[name.get_ref()].vpc.clone();
                let declared = (&this.topology.vpcs, &this.topology.security_groups);
                let ingress =
                    this.sg_rules(raw.ingress.as_deref().unwrap_or_default(), &vpc, declared)?;
                let egress = match &raw.egress {
                    Some(rules) => this.sg_rules(rules, &vpc, declared)?,
                    None => vec![allow_all_egress()],
                };
                let group = &mut this.topology.security_groups[name.get_ref()];
                group.ingress = ingress;
                group.egress = egress;
                Ok(())
            });
        }
    }

    /// Validates security group rules; `sg` references resolve within `vpc`.
    /// The rules of a group in `vpc`; `groups` are the security groups a rule may name,
    /// in `vpcs`.
    pub(super) fn sg_rules(
        &self,
        raw: &[S<RawSgRule>],
        vpc: &str,
        (vpcs, groups): (&IndexMap<String, Vpc>, &IndexMap<String, SecurityGroup>),
    ) -> Result<Vec<SgRule>> {
        raw.iter()
            .map(|rule| {
                let (whole, rule) = (rule.span(), rule.get_ref());
                let (proto, ports) = self.proto_ports(&rule.proto, rule.ports.as_ref())?;
                let peer = match (&rule.cidr, &rule.sg) {
                    (Some(cidr), None) => Peer::Cidr(self.cidr(cidr)?),
                    (None, Some(sg)) => {
                        let key = self.group_key(sg, Some(vpc), (vpcs, groups), "security group")?;
                        if groups[&key].vpc != vpc {
                            return Err(self.err(sg.span(), format!("security group `{}` is in another VPC: vpcesim models no peering, so a rule can only name groups of `{vpc}`", sg.get_ref())));
                        }
                        Peer::Group(key)
                    }
                    (Some(cidr), Some(_)) => {
                        return Err(self.err(cidr.span(), "a rule has both `cidr` and `sg`: give exactly one"));
                    }
                    (None, None) => return Err(self.err(whole, "a rule needs `cidr` or `sg`")),
                };
                Ok(SgRule { proto, ports, peer })
            })
            .collect()
    }

    fn load_instances(&mut self, instances: &Named<RawInstance>, ids: &IdGen) {
        let mut allocator = Allocator::default();
        let mut taken = HashSet::new();
        // Explicit addresses first, so that one given later in the file never collides
        // with one handed out earlier.
        let mut explicit: IndexMap<String, Ipv4Addr> = IndexMap::new();
        for (name, raw) in instances {
            self.each("instance or on-premises host", name, |this| {
                let raw = raw.get_ref();
                check_name(this, name)?;
                let subnet = this.subnet_ref(&raw.subnet)?;
                if let Some(ip) = &raw.ip {
                    let addr = this.address_in(ip, &subnet)?;
                    if !allocator.reserve(&subnet.name, addr) {
                        return Err(this.err(
                            ip.span(),
                            format!("address {addr} is already taken by another instance"),
                        ));
                    }
                    explicit.insert(name.get_ref().clone(), addr);
                }
                Ok(())
            });
        }
        for (name, raw) in instances {
            if self.did_not_load("instance or on-premises host", name.get_ref()) {
                continue;
            }
            self.each("instance or on-premises host", name, |this| {
                let raw = raw.get_ref();
                let subnet = this.subnet_ref(&raw.subnet)?;
                let ip = match explicit.get(name.get_ref()) {
                    Some(ip) => *ip,
                    None => allocator.allocate(&subnet).ok_or_else(|| {
                        this.err(
                            raw.subnet.span(),
                            format!("subnet `{}` has no free address left", subnet.name),
                        )
                    })?,
                };
                let security_groups = match &raw.security_groups {
                    Some(list) => {
                        if list.is_empty() {
                            return Err(this.err(name.span(), "an instance needs at least one security group (leave `security_groups` out for the VPC's default)"));
                        }
                        list.iter()
                            .map(|g| {
                                let key = this.group_key(
                                    g,
                                    Some(&subnet.vpc),
                                    (&this.topology.vpcs, &this.topology.security_groups),
                                    "security group",
                                )?;
                                if this.topology.security_groups[&key].vpc != subnet.vpc {
                                    return Err(this.err(
                                        g.span(),
                                        format!(
                                            "security group `{}` is not in the instance's VPC `{}`",
                                            g.get_ref(),
                                            subnet.vpc
                                        ),
                                    ));
                                }
                                Ok(key)
                            })
                            .collect::<Result<Vec<_>>>()?
                    }
                    None => vec![format!("{}/default", subnet.vpc)],
                };
                let id = this.object_id(raw.id.as_ref(), "i", name.get_ref(), ids, &taken)?;
                taken.insert(id.clone());
                this.topology.instances.insert(
                    name.get_ref().clone(),
                    Instance {
                        name: name.get_ref().clone(),
                        id,
                        subnet: subnet.name.clone(),
                        ip,
                        security_groups,
                    },
                );
                Ok(())
            });
        }
    }

    fn subnet_ref(&self, subnet: &S<String>) -> Result<Subnet> {
        self.topology
            .subnets
            .get(subnet.get_ref())
            .cloned()
            .ok_or_else(|| self.unknown(subnet, "subnet", self.topology.subnets.keys()))
    }

    fn address_in(&self, ip: &S<String>, subnet: &Subnet) -> Result<Ipv4Addr> {
        let addr: Ipv4Addr = ip.get_ref().parse().map_err(|_| {
            self.err(
                ip.span(),
                format!("`{}` is not an IPv4 address", ip.get_ref()),
            )
        })?;
        if !subnet.cidr.contains(&addr) {
            return Err(self.err(
                ip.span(),
                format!(
                    "address {addr} is outside subnet `{}` ({})",
                    subnet.name, subnet.cidr
                ),
            ));
        }
        if subnet.is_reserved(addr) {
            return Err(self.err(
                ip.span(),
                format!("address {addr} is reserved by AWS: the first four addresses and the last one of subnet `{}` ({}) cannot be used", subnet.name, subnet.cidr),
            ));
        }
        Ok(addr)
    }

    fn load_onprem(&mut self, networks: &Named<RawOnPrem>) {
        let mut hosts_seen: HashSet<String> = self.topology.instances.keys().cloned().collect();
        for (name, raw) in networks {
            self.each("on-premises network", name, |this| {
                let raw = raw.get_ref();
                check_name(this, name)?;
                let cidr = this.cidr(&raw.cidr)?;
                this.check_usable_range(&raw.cidr, cidr, "on-premises range")?;
                let vpc = this.vpc_ref(&raw.vpc)?;
                let vpc_cidr = this.topology.vpcs[&vpc].cidr;
                if vpc_cidr.contains(&cidr) || cidr.contains(&vpc_cidr) {
                    return Err(this.err(raw.cidr.span(), format!("on-premises range `{cidr}` overlaps its VPC `{vpc}` ({vpc_cidr}): traffic could not be routed")));
                }
                let via = match raw.via.get_ref().as_str() {
                    "vpn" => Attachment::Vpn,
                    "direct_connect" => Attachment::DirectConnect,
                    other => {
                        return Err(this.err(
                            raw.via.span(),
                            format!("`{other}` is not an attachment: use `vpn` or `direct_connect`"),
                        ));
                    }
                };
                let mut hosts = IndexMap::new();
                for (host, addr) in &raw.hosts {
                    if !hosts_seen.insert(host.get_ref().clone()) {
                        return Err(this.err(
                            host.span(),
                            format!(
                                "host name `{}` is already used by an instance or another host",
                                host.get_ref()
                            ),
                        ));
                    }
                    let ip: Ipv4Addr = addr.get_ref().parse().map_err(|_| {
                        this.err(
                            addr.span(),
                            format!("`{}` is not an IPv4 address", addr.get_ref()),
                        )
                    })?;
                    if !cidr.contains(&ip) {
                        return Err(this.err(
                            addr.span(),
                            format!("host address {ip} is outside the on-premises range {cidr}"),
                        ));
                    }
                    hosts.insert(host.get_ref().clone(), ip);
                }
                this.topology.onprem.insert(
                    name.get_ref().clone(),
                    OnPremNetwork {
                        name: name.get_ref().clone(),
                        cidr,
                        vpc,
                        via,
                        hosts,
                    },
                );
                Ok(())
            });
            if self.did_not_load("on-premises network", name.get_ref()) {
                for host in raw.get_ref().hosts.keys() {
                    self.mark_failed("instance or on-premises host", host.get_ref());
                }
            }
        }
    }

    fn load_services(&mut self, services: &Named<RawService>, ids: &IdGen) {
        let mut taken = HashSet::new();
        for (name, raw) in services {
            self.each("service", name, |this| {
                let (whole, raw) = (raw.span(), raw.get_ref());
                check_name(this, name)?;
                let account = this.owner(
                    raw.account.as_ref(),
                    &format!("service `{}`", name.get_ref()),
                    whole.clone(),
                )?;
                let id =
                    this.object_id(raw.id.as_ref(), "vpce-svc", name.get_ref(), ids, &taken)?;
                taken.insert(id.clone());
                let prefix = this.topology.region.az_id_prefix();
                let az_ids = match &raw.az_ids {
                    Some(list) => {
                        let mut out = Vec::new();
                        for az in list {
                            if !is_az_id_of(&prefix, az.get_ref()) {
                                return Err(this.err(
                                    az.span(),
                                    format!(
                                        "`{}` is not an AZ ID of {} (expected `{prefix}-az1`, ...)",
                                        az.get_ref(),
                                        this.topology.region
                                    ),
                                ));
                            }
                            if !out.contains(az.get_ref()) {
                                out.push(az.get_ref().clone());
                            }
                        }
                        out
                    }
                    None => this.topology.accounts[&account]
                        .az_ids
                        .values()
                        .cloned()
                        .collect(),
                };
                let ports = match &raw.ports {
                    Some(list) => list
                        .iter()
                        .map(|p| {
                            u16::try_from(*p.get_ref())
                                .ok()
                                .filter(|p| *p > 0)
                                .ok_or_else(|| {
                                    this.err(
                                        p.span(),
                                        format!(
                                            "port {} is out of range: use 1 to 65535",
                                            p.get_ref()
                                        ),
                                    )
                                })
                        })
                        .collect::<Result<Vec<_>>>()?,
                    None => vec![443],
                };
                if ports.is_empty() {
                    return Err(this.err(whole, "a service must listen on at least one port"));
                }
                let private_dns_name = match &raw.private_dns_name {
                    Some(n) => {
                        let lower = n.get_ref().trim_end_matches('.').to_ascii_lowercase();
                        if !is_dns_name(&lower) {
                            return Err(
                                this.err(n.span(), format!("`{}` is not a DNS name", n.get_ref()))
                            );
                        }
                        Some(lower)
                    }
                    None => None,
                };
                let backend = match &raw.backend {
                    Some(b) => Backend::parse(b.get_ref()).map_err(|e| this.err(b.span(), e))?,
                    None => Backend::Echo,
                };
                this.topology.services.insert(
                    name.get_ref().clone(),
                    EndpointService {
                        name: name.get_ref().clone(),
                        service_name: provider_service_name(&this.topology.region, &id),
                        id,
                        account,
                        acceptance_required: raw.acceptance_required.unwrap_or(false),
                        az_ids,
                        ports,
                        private_dns_name,
                        marketplace: raw.marketplace.unwrap_or(false),
                        backend,
                    },
                );
                Ok(())
            });
        }
    }

    fn load_backends(&mut self, backends: &IndexMap<S<String>, S<String>>) {
        for (service, backend) in backends {
            self.each("backend", service, |this| {
                if catalog::lookup(&this.topology.region, service.get_ref()).is_none() {
                    return Err(this.err(
                        service.span(),
                        format!("`{}` is not an AWS service of {} (`vpcesim services` lists them; a provider's service sets `backend` in its own table)", service.get_ref(), this.topology.region),
                    ));
                }
                let parsed =
                    Backend::parse(backend.get_ref()).map_err(|e| this.err(backend.span(), e))?;
                this.topology
                    .backends
                    .insert(service.get_ref().clone(), parsed);
                Ok(())
            });
        }
    }

    fn load_endpoint(
        &self,
        control: &mut ControlPlane,
        name: &S<String>,
        raw: &S<RawEndpoint>,
    ) -> Result<()> {
        check_name(self, name)?;
        let (whole, raw) = (raw.span(), raw.get_ref());
        let groups = raw.security_groups.as_ref().map(S::get_ref);
        let failed_reference = self.did_not_load("VPC", raw.vpc.get_ref())
            || self.did_not_load("service", raw.service.get_ref())
            || raw
                .subnets
                .get_ref()
                .iter()
                .any(|s| self.did_not_load("subnet", s.get_ref()))
            || groups
                .into_iter()
                .flatten()
                .any(|g| self.did_not_load("security group", g.get_ref()));
        if failed_reference {
            return Err(self
                .err(whole, "an object this endpoint names did not load")
                .following());
        }
        let request = create_request(
            name.get_ref(),
            raw.vpc.get_ref(),
            raw.service.get_ref(),
            &raw.subnets,
            raw.security_groups.as_ref(),
            raw.private_dns.as_ref(),
            raw.policy.as_ref(),
            raw.tags.as_ref(),
            raw.id.as_ref(),
            raw.dns_suffix.as_ref(),
        );
        let account = control
            .topology()
            .vpcs
            .get(raw.vpc.get_ref())
            .map(|v| v.account.clone())
            .ok_or_else(|| self.unknown(&raw.vpc, "VPC", control.topology().vpcs.keys()))?;
        control
            .create_endpoint(Duration::ZERO, &account, &request)
            .map(|_| ())
            .map_err(|e| {
                let span = match e.code {
                    ErrorCode::InvalidSubnetIdNotFound | ErrorCode::DuplicateSubnetsInSameZone => {
                        raw.subnets.span()
                    }
                    ErrorCode::InvalidGroupNotFound => {
                        raw.security_groups.as_ref().map_or(whole.clone(), S::span)
                    }
                    ErrorCode::InvalidServiceName => raw.service.span(),
                    ErrorCode::InvalidVpcIdNotFound => raw.vpc.span(),
                    ErrorCode::InvalidPolicyDocument => {
                        raw.policy.as_ref().map_or(whole.clone(), S::span)
                    }
                    ErrorCode::InvalidParameter
                        if e.message.contains("rivate DNS")
                            || e.message.contains("private-dns") =>
                    {
                        raw.private_dns.as_ref().map_or(whole.clone(), S::span)
                    }
                    ErrorCode::InvalidParameterValue if e.message.contains("dns_suffix") => {
                        raw.dns_suffix.as_ref().map_or(whole.clone(), S::span)
                    }
                    ErrorCode::InvalidParameterValue => {
                        raw.id.as_ref().map_or(whole.clone(), S::span)
                    }
                    _ => whole.clone(),
                };
                self.api_error(span, &format!("endpoint `{}`", name.get_ref()), &e)
            })
    }

    pub(super) fn api_error(&self, span: Range<usize>, what: &str, error: &ApiError) -> Diagnostic {
        self.err(
            span,
            format!(
                "{what} cannot be created: {} ({})",
                error.message, error.code
            ),
        )
    }

    fn load_notification(
        &self,
        control: &mut ControlPlane,
        raw: &S<RawNotification>,
    ) -> Result<()> {
        let (whole, raw) = (raw.span(), raw.get_ref());
        let target = match (&raw.endpoint, &raw.service) {
            (Some(e), None) => {
                if !control.topology().endpoints.contains_key(e.get_ref()) {
                    return Err(self.unknown(e, "endpoint", control.topology().endpoints.keys()));
                }
                NotificationTarget::Endpoint(e.get_ref().clone())
            }
            (None, Some(s)) => {
                if !control.topology().services.contains_key(s.get_ref()) {
                    return Err(self.unknown(s, "service", control.topology().services.keys()));
                }
                NotificationTarget::Service(s.get_ref().clone())
            }
            (Some(e), Some(_)) => {
                return Err(self.err(
                    e.span(),
                    "a notification watches an `endpoint` or a `service`, not both",
                ));
            }
            (None, None) => {
                return Err(self.err(whole, "a notification needs `endpoint` or `service`"));
            }
        };
        let topic = raw.topic.get_ref();
        if !is_sns_arn(topic) {
            return Err(self.err(
                raw.topic.span(),
                format!("`{topic}` is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"),
            ));
        }
        let mut events = Vec::new();
        for e in raw.events.get_ref() {
            let event = ConnectionEvent::parse(e.get_ref()).ok_or_else(|| {
                self.err(
                    e.span(),
                    format!(
                        "`{}` is not a connection event: use Connect, Accept, Reject or Delete",
                        e.get_ref()
                    ),
                )
            })?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        control
            .create_notification(target, topic, events)
            .map(|_| ())
            .map_err(|e| self.api_error(raw.events.span(), "the notification", &e))
    }
}

/// Builds the control plane's request from an endpoint's keys.
#[allow(clippy::too_many_arguments)]
pub(super) fn create_request(
    name: &str,
    vpc: &str,
    service: &str,
    subnets: &S<Vec<S<String>>>,
    security_groups: Option<&S<Vec<S<String>>>>,
    private_dns: Option<&S<bool>>,
    policy: Option<&S<String>>,
    tags: Option<&IndexMap<String, String>>,
    id: Option<&S<String>>,
    dns_suffix: Option<&S<String>>,
) -> CreateEndpoint {
    CreateEndpoint {
        name: Some(name.to_string()),
        vpc: vpc.to_string(),
        service: service.to_string(),
        subnets: subnets
            .get_ref()
            .iter()
            .map(|s| s.get_ref().clone())
            .collect(),
        security_groups: security_groups
            .map(|g| g.get_ref().iter().map(|s| s.get_ref().clone()).collect())
            .unwrap_or_default(),
        private_dns: private_dns.map(|p| *p.get_ref()),
        policy: policy.map(|p| p.get_ref().clone()),
        tags: tags.cloned().unwrap_or_default(),
        id: id.map(|i| i.get_ref().clone()),
        dns_suffix: dns_suffix.map(|d| d.get_ref().clone()),
    }
}

fn allow_all_egress() -> SgRule {
    SgRule {
        proto: Proto::All,
        ports: PortRange::ALL,
        peer: Peer::Cidr(Ipv4Net::default()),
    }
}

fn check_name(loader: &Loader<'_>, name: &S<String>) -> Result<()> {
    let n = name.get_ref();
    if n.is_empty() || n.contains(char::is_whitespace) {
        return Err(loader.err(
            name.span(),
            format!("`{n}` is not a usable name: names are non-empty and have no spaces"),
        ));
    }
    Ok(())
}

fn is_az_id_of(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix("-az"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn is_sns_arn(topic: &str) -> bool {
    let parts: Vec<&str> = topic.split(':').collect();
    parts.len() == 6 && parts[0] == "arn" && parts[2] == "sns" && !parts[5].is_empty()
}

/// Whether `name` is a DNS name of letters, digits and hyphens (a leading `*.` allowed).
pub(super) fn is_dns_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
