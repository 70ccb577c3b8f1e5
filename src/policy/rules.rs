//! Security group and network ACL rules compiled for fast evaluation.
//!
//! A flow decision must stay under a microsecond with a thousand security group rules
//! (benches/policy.rs): rules are flattened into columns of `u32` that the compiler
//! vectorises, and group references are expanded to the member addresses at compile time
//! (as Batfish does), so evaluation never looks anything up.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::{NaclEntry, PortRange, Proto, RuleAction};

/// The bit a packet of `proto` sets; a rule matches when its mask has it.
pub(crate) fn packet_bit(proto: Proto) -> u32 {
    match proto {
        Proto::Tcp => 1,
        Proto::Udp => 2,
        Proto::Icmp => 4,
        Proto::All => 8,
    }
}

/// The packets a rule for `proto` covers ([`Proto::covers`]).
fn rule_mask(proto: Proto) -> u32 {
    match proto {
        Proto::All => 0xF,
        p => packet_bit(p),
    }
}

/// The ports a rule matches: every port when its protocol has none.
fn rule_ports(proto: Proto, ports: PortRange) -> (u32, u32) {
    if proto.has_ports() {
        (u32::from(ports.low), u32::from(ports.high))
    } else {
        (0, u32::from(u16::MAX))
    }
}

fn net_mask(net: Ipv4Net) -> (u32, u32) {
    let mask = u32::from(net.netmask());
    (u32::from(net.network()) & mask, mask)
}

/// The union of allow rules of one direction of the groups on one host or ENI.
#[derive(Debug, Clone, Default)]
pub(crate) struct SgRuleSet {
    protos: Vec<u32>,
    lows: Vec<u32>,
    highs: Vec<u32>,
    nets: Vec<u32>,
    masks: Vec<u32>,
}

const LANES: usize = 16;

impl SgRuleSet {
    /// Adds a rule whose peer is `peer` (a CIDR, or one member address as a /32).
    pub(crate) fn push(&mut self, proto: Proto, ports: PortRange, peer: Ipv4Net) {
        let (low, high) = rule_ports(proto, ports);
        let (net, mask) = net_mask(peer);
        self.protos.push(rule_mask(proto));
        self.lows.push(low);
        self.highs.push(high);
        self.nets.push(net);
        self.masks.push(mask);
    }

    /// How many flattened rules it holds.
    pub(crate) fn len(&self) -> usize {
        self.protos.len()
    }

    /// Whether any rule allows a packet of `proto` to or from `addr` on `port`.
    pub(crate) fn allows(&self, proto: Proto, port: u16, addr: Ipv4Addr) -> bool {
        let bit = packet_bit(proto);
        let port = u32::from(port);
        let addr = u32::from(addr);
        let n = self.len();
        let mut start = 0;
        while start < n {
            let end = (start + LANES).min(n);
            let mut hit = false;
            // No early exit inside a chunk: the loop vectorises.
            for i in start..end {
                hit |= (self.protos[i] & bit != 0)
                    & (port.wrapping_sub(self.lows[i]) <= self.highs[i].wrapping_sub(self.lows[i]))
                    & (addr & self.masks[i] == self.nets[i]);
            }
            if hit {
                return true;
            }
            start = end;
        }
        false
    }
}

/// One direction of a network ACL, in ascending rule order.
#[derive(Debug, Clone, Default)]
pub(crate) struct NaclRules {
    rules: Vec<u16>,
    protos: Vec<u32>,
    lows: Vec<u32>,
    highs: Vec<u32>,
    nets: Vec<u32>,
    masks: Vec<u32>,
    allow: Vec<bool>,
}

impl NaclRules {
    /// Compiles entries, sorting them by rule number.
    pub(crate) fn compile(entries: &[NaclEntry]) -> Self {
        let mut sorted: Vec<&NaclEntry> = entries.iter().collect();
        sorted.sort_by_key(|e| e.rule);
        let mut out = Self::default();
        for e in sorted {
            let (low, high) = rule_ports(e.proto, e.ports);
            let (net, mask) = net_mask(e.cidr);
            out.rules.push(e.rule);
            out.protos.push(rule_mask(e.proto));
            out.lows.push(low);
            out.highs.push(high);
            out.nets.push(net);
            out.masks.push(mask);
            out.allow.push(e.action == RuleAction::Allow);
        }
        out
    }

    /// First match wins: `Ok` if it allows, else the denying rule's number (`None` = `*`).
    pub(crate) fn evaluate(
        &self,
        proto: Proto,
        port: u16,
        addr: Ipv4Addr,
    ) -> Result<(), Option<u16>> {
        let bit = packet_bit(proto);
        let port = u32::from(port);
        let addr = u32::from(addr);
        for i in 0..self.rules.len() {
            if self.protos[i] & bit != 0
                && (self.lows[i]..=self.highs[i]).contains(&port)
                && addr & self.masks[i] == self.nets[i]
            {
                return if self.allow[i] {
                    Ok(())
                } else {
                    Err(Some(self.rules[i]))
                };
            }
        }
        Err(None)
    }
}

/// Plain evaluators straight from the documented semantics, to check the compiled ones.
#[cfg(test)]
pub(crate) mod reference {
    use std::net::Ipv4Addr;

    use crate::model::{NaclEntry, PortRange, Proto, RuleAction};

    /// Whether a rule of `rule_proto` with `ports` matches a packet of `proto` on `port`.
    pub(crate) fn rule_matches(
        rule_proto: Proto,
        ports: PortRange,
        proto: Proto,
        port: u16,
    ) -> bool {
        rule_proto.covers(proto) && (!rule_proto.has_ports() || ports.contains(port))
    }

    /// NACL: ascending rule numbers, first match decides, `*` denies.
    pub(crate) fn nacl(
        entries: &[NaclEntry],
        proto: Proto,
        port: u16,
        addr: Ipv4Addr,
    ) -> Result<(), Option<u16>> {
        let mut sorted = entries.to_vec();
        sorted.sort_by_key(|e| e.rule);
        for e in &sorted {
            if rule_matches(e.proto, e.ports, proto, port) && e.cidr.contains(&addr) {
                return match e.action {
                    RuleAction::Allow => Ok(()),
                    RuleAction::Deny => Err(Some(e.rule)),
                };
            }
        }
        Err(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn proto() -> impl Strategy<Value = Proto> {
        prop_oneof![
            Just(Proto::Tcp),
            Just(Proto::Udp),
            Just(Proto::Icmp),
            Just(Proto::All)
        ]
    }

    fn packet_proto() -> impl Strategy<Value = Proto> {
        prop_oneof![Just(Proto::Tcp), Just(Proto::Udp), Just(Proto::Icmp)]
    }

    fn ports() -> impl Strategy<Value = PortRange> {
        // Small ports so that random packets hit the ranges often.
        (0u16..40, 0u16..40).prop_map(|(a, b)| PortRange {
            low: a.min(b),
            high: a.max(b),
        })
    }

    fn net() -> impl Strategy<Value = Ipv4Net> {
        // A small address space (10.0.0.0/28) and every prefix length.
        (0u32..16, 0u8..=32).prop_map(|(host, len)| {
            Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 | host), len)
                .map(|n| n.trunc())
                .unwrap_or_else(|_| Ipv4Net::default())
        })
    }

    fn addr() -> impl Strategy<Value = Ipv4Addr> {
        prop_oneof![
            (0u32..16).prop_map(|h| Ipv4Addr::from(0x0A00_0000 | h)),
            any::<u32>().prop_map(Ipv4Addr::from)
        ]
    }

    fn nacl_entry() -> impl Strategy<Value = NaclEntry> {
        (1u16..60, proto(), ports(), net(), any::<bool>()).prop_map(
            |(rule, proto, ports, cidr, allow)| NaclEntry {
                rule,
                proto,
                ports,
                cidr,
                action: if allow {
                    RuleAction::Allow
                } else {
                    RuleAction::Deny
                },
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn sg_set_matches_the_union_of_plain_rules(
            rules in prop::collection::vec((proto(), ports(), net()), 0..40),
            p in packet_proto(), port in 0u16..45, a in addr(),
        ) {
            let mut set = SgRuleSet::default();
            for (proto, ports, net) in &rules {
                set.push(*proto, *ports, *net);
            }
            let expected = rules
                .iter()
                .any(|(rp, ports, net)| reference::rule_matches(*rp, *ports, p, port) && net.contains(&a));
            prop_assert_eq!(set.allows(p, port, a), expected);
        }

        #[test]
        fn nacl_matches_first_match_in_rule_order(
            mut entries in prop::collection::vec(nacl_entry(), 0..20),
            p in packet_proto(), port in 0u16..45, a in addr(),
        ) {
            // Rule numbers are unique per direction.
            entries.sort_by_key(|e| e.rule);
            entries.dedup_by_key(|e| e.rule);
            entries.reverse();
            let compiled = NaclRules::compile(&entries);
            prop_assert_eq!(compiled.evaluate(p, port, a), reference::nacl(&entries, p, port, a));
        }
    }

    #[test]
    fn lower_rule_number_wins_whatever_the_order_given() {
        let entry = |rule, action| NaclEntry {
            rule,
            proto: Proto::Tcp,
            ports: PortRange::single(443),
            cidr: "10.0.0.0/16".parse().unwrap(),
            action,
        };
        let addr = Ipv4Addr::new(10, 0, 1, 5);
        let rules =
            NaclRules::compile(&[entry(200, RuleAction::Allow), entry(100, RuleAction::Deny)]);
        assert_eq!(rules.evaluate(Proto::Tcp, 443, addr), Err(Some(100)));
        assert_eq!(rules.evaluate(Proto::Tcp, 444, addr), Err(None));
        assert_eq!(
            NaclRules::compile(&[]).evaluate(Proto::Tcp, 443, addr),
            Err(None)
        );
    }

    #[test]
    fn all_and_icmp_rules_ignore_ports() {
        let mut set = SgRuleSet::default();
        set.push(
            Proto::Icmp,
            PortRange::single(7),
            "0.0.0.0/0".parse().unwrap(),
        );
        assert!(set.allows(Proto::Icmp, 9999, Ipv4Addr::new(1, 2, 3, 4)));
        assert!(!set.allows(Proto::Tcp, 7, Ipv4Addr::new(1, 2, 3, 4)));
        set.push(
            Proto::All,
            PortRange::single(7),
            "10.0.0.0/8".parse().unwrap(),
        );
        assert!(set.allows(Proto::Tcp, 9999, Ipv4Addr::new(10, 2, 3, 4)));
        assert!(!set.allows(Proto::Tcp, 9999, Ipv4Addr::new(11, 2, 3, 4)));
    }
}
