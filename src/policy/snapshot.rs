//! The compiled policy of one topology and the flow decision of docs/behaviour.md §5.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

use super::rules::{NaclRules, SgRuleSet};
use super::verdict::{Admitted, BlockKind, BlockedBy, Verdict};
use super::{FlowKey, HostInfo, Initiator};
use crate::control::ServiceInfo;
use crate::model::{Backend, EndpointState, Peer, Proto, SgRule, Topology};

/// One direction of one network ACL, with the names a verdict reports.
#[derive(Debug)]
struct CompiledNacl {
    name: String,
    inbound: NaclRules,
    outbound: NaclRules,
}

/// A subnet as the decision needs it.
#[derive(Debug)]
struct SubnetEntry {
    name: String,
    nacl: usize,
}

/// A consumer: an instance, or an on-premises host (no subnet, no groups).
#[derive(Debug)]
struct HostEntry {
    info: HostInfo,
    vpc: usize,
    subnet: Option<usize>,
    /// The union of its groups' egress rules; `None` for on-premises hosts.
    egress: Option<Arc<SgRuleSet>>,
    /// The group's name when it carries exactly one.
    sg_name: Option<String>,
    /// The ID of the account that owns its VPC (the one it reaches).
    account_id: Option<String>,
}

/// An endpoint ENI as the decision needs it.
#[derive(Debug)]
struct EniEntry {
    id: String,
    endpoint: String,
    subnet: usize,
    az_id: String,
    state: EndpointState,
    ingress: Arc<SgRuleSet>,
    sg_name: Option<String>,
    ports: Vec<u16>,
    backend: Backend,
}

/// Rules compiled from one topology; immutable, cheap to share.
#[derive(Debug, Default)]
pub struct PolicySnapshot {
    nacls: Vec<CompiledNacl>,
    subnets: Vec<SubnetEntry>,
    hosts: HashMap<String, HostEntry>,
    enis: Vec<EniEntry>,
    /// (VPC index, address) to ENI index: VPC CIDRs may overlap.
    eni_by_addr: HashMap<(usize, u32), usize>,
    vpc_cidrs: Vec<Ipv4Net>,
}

/// Which checks a decision runs: a recheck of a tracked flow skips the stateful ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    New,
    Tracked,
}

impl PolicySnapshot {
    /// Compiles `topology`: group references are expanded to member addresses, rules of
    /// every host's and ENI's groups are merged, NACL entries are sorted.
    pub fn compile(topology: &Topology) -> Self {
        let nacls = topology
            .nacls
            .values()
            .map(|n| CompiledNacl {
                name: n.name.clone(),
                inbound: NaclRules::compile(&n.inbound),
                outbound: NaclRules::compile(&n.outbound),
            })
            .collect();
        // One entry per subnet, in the topology's order: a subnet's index is its
        // position there.
        let mut subnets = Vec::new();
        for s in topology.subnets.values() {
            // A subnet whose NACL is unknown gets none that allows: fail closed.
            let nacl = topology
                .nacls
                .get_index_of(s.nacl.as_str())
                .unwrap_or(usize::MAX);
            subnets.push(SubnetEntry {
                name: s.name.clone(),
                nacl,
            });
        }

        // Group key -> member addresses (instances and live ENIs that carry it).
        let mut members: HashMap<&str, Vec<Ipv4Addr>> = HashMap::new();
        for inst in topology.instances.values() {
            for g in &inst.security_groups {
                members.entry(g.as_str()).or_default().push(inst.ip);
            }
        }
        for eni in topology.enis.values() {
            let Some(ep) = topology.endpoints.get(&eni.endpoint) else {
                continue;
            };
            if !ep.state.has_enis() {
                continue;
            }
            for g in &ep.security_groups {
                members.entry(g.as_str()).or_default().push(eni.ip);
            }
        }
        // Hosts and ENIs that carry the same groups share one compiled set.
        let mut cache: HashMap<(bool, Vec<String>), Arc<SgRuleSet>> = HashMap::new();
        let mut union = |groups: &[String], ingress: bool| {
            let key = (ingress, groups.to_vec());
            if let Some(set) = cache.get(&key) {
                return Arc::clone(set);
            }
            let pick = |g: &'_ crate::model::SecurityGroup| -> Vec<SgRule> {
                if ingress {
                    g.ingress.clone()
                } else {
                    g.egress.clone()
                }
            };
            let mut set = Vec::new();
            for key in groups {
                let Some(group) = topology.security_groups.get(key) else {
                    continue;
                };
                for rule in &pick(group) {
                    match &rule.peer {
                        Peer::Cidr(net) => set.push((rule.proto, rule.ports, *net)),
                        Peer::Group(g) => {
                            for ip in members.get(g.as_str()).into_iter().flatten() {
                                set.push((rule.proto, rule.ports, Ipv4Net::from(*ip)));
                            }
                        }
                    }
                }
            }
            let set = Arc::new(SgRuleSet::build(&set));
            cache.insert(key, Arc::clone(&set));
            set
        };
        let single_name = |groups: &[String]| match groups {
            [only] => topology.security_groups.get(only).map(|g| g.name.clone()),
            _ => None,
        };

        let account_of = |vpc: &str| topology.vpc_account(vpc).map(|a| a.id.clone());
        let mut hosts = HashMap::new();
        for inst in topology.instances.values() {
            let Some(subnet) = topology.subnets.get(&inst.subnet) else {
                continue;
            };
            let Some(vpc) = topology.vpcs.get_index_of(subnet.vpc.as_str()) else {
                continue;
            };
            hosts.insert(
                inst.name.clone(),
                HostEntry {
                    info: HostInfo {
                        ip: inst.ip,
                        vpc: Some(subnet.vpc.clone()),
                        az_id: Some(subnet.az_id.clone()),
                    },
                    vpc,
                    subnet: topology.subnets.get_index_of(inst.subnet.as_str()),
                    egress: Some(union(&inst.security_groups, false)),
                    sg_name: single_name(&inst.security_groups),
                    account_id: account_of(subnet.vpc.as_str()),
                },
            );
        }
        for net in topology.onprem.values() {
            let Some(vpc) = topology.vpcs.get_index_of(net.vpc.as_str()) else {
                continue;
            };
            for (name, ip) in &net.hosts {
                hosts.entry(name.clone()).or_insert_with(|| HostEntry {
                    info: HostInfo {
                        ip: *ip,
                        vpc: None,
                        az_id: None,
                    },
                    vpc,
                    subnet: None,
                    egress: None,
                    sg_name: None,
                    account_id: account_of(net.vpc.as_str()),
                });
            }
        }

        let mut enis = Vec::new();
        let mut eni_by_addr = HashMap::new();
        for eni in topology.enis.values() {
            let Some(ep) = topology.endpoints.get(&eni.endpoint) else {
                continue;
            };
            if !ep.state.has_enis() {
                continue;
            }
            let (Some(subnet), Some(subnet_idx)) = (
                topology.subnets.get(&eni.subnet),
                topology.subnets.get_index_of(eni.subnet.as_str()),
            ) else {
                continue;
            };
            let Some(vpc) = topology.vpcs.get_index_of(subnet.vpc.as_str()) else {
                continue;
            };
            let (ports, backend) = match ServiceInfo::of(topology, &ep.service) {
                Some(info) => (info.ports, info.backend),
                None => (Vec::new(), Backend::Echo),
            };
            eni_by_addr.insert((vpc, u32::from(eni.ip)), enis.len());
            enis.push(EniEntry {
                id: eni.id.clone(),
                endpoint: ep.name.clone(),
                subnet: subnet_idx,
                az_id: subnet.az_id.clone(),
                state: ep.state,
                ingress: union(&ep.security_groups, true),
                sg_name: single_name(&ep.security_groups),
                ports,
                backend,
            });
        }

        Self {
            nacls,
            subnets,
            hosts,
            enis,
            eni_by_addr,
            vpc_cidrs: topology.vpcs.values().map(|v| v.cidr).collect(),
        }
    }

    /// The flow decision of docs/behaviour.md §5, in its order: no route, direction,
    /// endpoint state, protocol, consumer SG egress, consumer subnet NACL outbound, ENI subnet NACL
    /// inbound, ENI SG ingress, listener, then the reply path (ENI subnet NACL outbound to
    /// the source port, consumer subnet NACL inbound). On-premises hosts have no SG and no
    /// subnet: only the ENI side's NACL and SG apply to them.
    pub fn decide(&self, from: &Initiator, flow: &FlowKey) -> Verdict {
        self.evaluate(from, flow, Mode::New)
    }

    /// Re-evaluates a tracked, admitted flow after a topology change: security-group
    /// changes keep it (stateful), NACL changes, endpoint state changes and removed ENIs
    /// cut it. `None` = keep.
    pub fn recheck(&self, from: &Initiator, flow: &FlowKey) -> Option<BlockedBy> {
        match self.evaluate(from, flow, Mode::Tracked) {
            Verdict::Allow(_) => None,
            Verdict::Block(b) => Some(b),
        }
    }

    /// The address of a host by name, and the VPC view it resolves DNS through.
    pub fn host(&self, name: &str) -> Option<HostInfo> {
        self.hosts.get(name).map(|h| h.info.clone())
    }

    /// The ENI a flow from `from` to `dst` would reach, by ID (for flow logs of rejections).
    pub fn eni_of(&self, from: &Initiator, dst: Ipv4Addr) -> Option<&str> {
        let Initiator::Host(name) = from else {
            return None;
        };
        let host = self.hosts.get(name)?;
        self.eni_by_addr
            .get(&(host.vpc, u32::from(dst)))
            .map(|&i| self.enis[i].id.as_str())
    }

    /// The ID of the account whose VPC a host's flows reach (for flow log records).
    pub fn account_id(&self, from: &Initiator) -> Option<&str> {
        let Initiator::Host(name) = from else {
            return None;
        };
        self.hosts.get(name)?.account_id.as_deref()
    }

    fn evaluate(&self, from: &Initiator, flow: &FlowKey, mode: Mode) -> Verdict {
        let host = match from {
            Initiator::Provider(_) => {
                let inside = self.vpc_cidrs.iter().any(|c| c.contains(&flow.dst));
                let kind = if inside {
                    BlockKind::Direction
                } else {
                    BlockKind::NoRoute
                };
                return Verdict::Block(BlockedBy::kind(kind));
            }
            Initiator::Host(name) => match self.hosts.get(name) {
                Some(h) => h,
                None => return Verdict::Block(BlockedBy::kind(BlockKind::NoRoute)),
            },
        };
        let Some(&eni_idx) = self.eni_by_addr.get(&(host.vpc, u32::from(flow.dst))) else {
            return Verdict::Block(BlockedBy::kind(BlockKind::NoRoute));
        };
        let eni = &self.enis[eni_idx];
        if eni.state != EndpointState::Available {
            return Verdict::Block(BlockedBy::kind(BlockKind::EndpointState));
        }
        if flow.proto != Proto::Tcp {
            return Verdict::Block(BlockedBy::kind(BlockKind::Protocol));
        }
        if mode == Mode::New
            && let Some(egress) = &host.egress
            && !egress.allows(flow.proto, flow.dst_port, flow.dst)
        {
            return Verdict::Block(sg_block("egress", &host.sg_name));
        }
        let crosses = host.subnet != Some(eni.subnet);
        let consumer_subnet = host.subnet.map(|s| &self.subnets[s]);
        let eni_subnet = &self.subnets[eni.subnet];
        if crosses
            && let Some(cs) = consumer_subnet
            && let Err(b) = self.nacl_check(cs, "outbound", flow.proto, flow.dst_port, flow.dst)
        {
            return Verdict::Block(b);
        }
        if crosses
            && let Err(b) =
                self.nacl_check(eni_subnet, "inbound", flow.proto, flow.dst_port, flow.src)
        {
            return Verdict::Block(b);
        }
        if mode == Mode::New && !eni.ingress.allows(flow.proto, flow.dst_port, flow.src) {
            return Verdict::Block(sg_block("ingress", &eni.sg_name));
        }
        if !eni.ports.contains(&flow.dst_port) {
            return Verdict::Block(BlockedBy::kind(BlockKind::NoListener));
        }
        if crosses {
            if let Err(b) =
                self.nacl_check(eni_subnet, "outbound", flow.proto, flow.src_port, flow.src)
            {
                return Verdict::Block(b);
            }
            if let Some(cs) = consumer_subnet
                && let Err(b) = self.nacl_check(cs, "inbound", flow.proto, flow.src_port, flow.dst)
            {
                return Verdict::Block(b);
            }
        }
        Verdict::Allow(Admitted {
            endpoint: eni.endpoint.clone(),
            eni: eni.id.clone(),
            az_id: eni.az_id.clone(),
            consumer_subnet: consumer_subnet.map(|s| s.name.clone()),
            eni_subnet: eni_subnet.name.clone(),
            backend: eni.backend,
            same_az: host.info.az_id.as_deref() == Some(eni.az_id.as_str()),
        })
    }

    fn nacl_check(
        &self,
        subnet: &SubnetEntry,
        direction: &'static str,
        proto: Proto,
        port: u16,
        addr: Ipv4Addr,
    ) -> Result<(), BlockedBy> {
        let block = |name: Option<String>, rule: Option<u16>| BlockedBy {
            kind: BlockKind::NetworkAcl,
            direction: Some(direction),
            name,
            rule: Some(rule.map_or_else(|| "*".to_string(), |r| r.to_string())),
            subnet: Some(subnet.name.clone()),
        };
        let Some(nacl) = self.nacls.get(subnet.nacl) else {
            return Err(block(None, None));
        };
        let rules = if direction == "inbound" {
            &nacl.inbound
        } else {
            &nacl.outbound
        };
        rules
            .evaluate(proto, port, addr)
            .map_err(|rule| block(Some(nacl.name.clone()), rule))
    }
}

fn sg_block(direction: &'static str, name: &Option<String>) -> BlockedBy {
    BlockedBy {
        kind: BlockKind::SecurityGroup,
        direction: Some(direction),
        name: name.clone(),
        rule: None,
        subnet: None,
    }
}
