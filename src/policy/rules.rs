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
///
/// A thousand rules scanned one by one cost about a nanosecond each, over the 1 µs
/// budget of a decision. The port axis and the address axis are each cut into
/// elementary intervals (at every rule's bounds); each interval holds the bitset of the
/// rules that cover it, and each packet protocol has one too. A packet is allowed when
/// the three bitsets it falls in share a rule: two binary searches and an AND of
/// `rules / 64` words, whatever the number of rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct SgRuleSet {
    /// Words per bitset.
    words: usize,
    /// Lower bounds of the port intervals, ascending; the first is 0.
    port_bounds: Vec<u32>,
    /// One bitset per port interval.
    port_bits: Vec<u64>,
    /// Lower bounds of the address intervals, ascending; the first is 0.
    addr_bounds: Vec<u64>,
    /// One bitset per address interval.
    addr_bits: Vec<u64>,
    /// One bitset per packet protocol bit (TCP, UDP, ICMP, "all").
    proto_bits: Vec<u64>,
}

/// One rule before indexing: protocol mask, port bounds, address bounds (inclusive).
#[derive(Debug, Clone, Copy)]
struct FlatRule {
    protos: u32,
    ports: (u32, u32),
    addrs: (u64, u64),
}

/// Cuts `[0, max]` at every rule's bounds and gives each piece its covering rules.
fn intervals<T: Copy + Ord + From<u8> + std::ops::Add<Output = T>>(
    rules: &[FlatRule],
    words: usize,
    span: impl Fn(&FlatRule) -> (T, T),
) -> (Vec<T>, Vec<u64>) {
    let mut bounds: Vec<T> = vec![T::from(0)];
    for r in rules {
        let (low, high) = span(r);
        bounds.push(low);
        bounds.push(high + T::from(1));
    }
    bounds.sort();
    bounds.dedup();
    let mut bits = vec![0u64; bounds.len() * words];
    for (k, &start) in bounds.iter().enumerate() {
        for (i, r) in rules.iter().enumerate() {
            let (low, high) = span(r);
            if low <= start && start <= high {
                bits[k * words + i / 64] |= 1 << (i % 64);
            }
        }
    }
    (bounds, bits)
}

impl SgRuleSet {
    /// Indexes rules given as (protocol, ports, peer): a CIDR, or one member address as a /32.
    pub(crate) fn build(rules: &[(Proto, PortRange, Ipv4Net)]) -> Self {
        let flat: Vec<FlatRule> = rules
            .iter()
            .map(|&(proto, ports, peer)| {
                let (net, mask) = net_mask(peer);
                FlatRule {
                    protos: rule_mask(proto),
                    ports: rule_ports(proto, ports),
                    addrs: (u64::from(net), u64::from(net | !mask)),
                }
            })
            .collect();
        let words = flat.len().div_ceil(64);
        let (port_bounds, port_bits) = intervals(&flat, words, |r| r.ports);
        let (addr_bounds, addr_bits) = intervals(&flat, words, |r| r.addrs);
        let mut proto_bits = vec![0u64; 4 * words];
        for (i, r) in flat.iter().enumerate() {
            for b in 0..4 {
                if r.protos & (1 << b) != 0 {
                    proto_bits[b * words + i / 64] |= 1 << (i % 64);
                }
            }
        }
        Self {
            words,
            port_bounds,
            port_bits,
            addr_bounds,
            addr_bits,
            proto_bits,
        }
    }

    /// Whether any rule allows a packet of `proto` to or from `addr` on `port`.
    pub(crate) fn allows(&self, proto: Proto, port: u16, addr: Ipv4Addr) -> bool {
        if self.words == 0 {
            return false;
        }
        let w = self.words;
        let p = self.port_bounds.partition_point(|&b| b <= u32::from(port)) - 1;
        let a = self
            .addr_bounds
            .partition_point(|&b| b <= u64::from(u32::from(addr)))
            - 1;
        let b = packet_bit(proto).trailing_zeros() as usize;
        let ports = &self.port_bits[p * w..(p + 1) * w];
        let addrs = &self.addr_bits[a * w..(a + 1) * w];
        let protos = &self.proto_bits[b * w..(b + 1) * w];
        ports
            .iter()
            .zip(addrs)
            .zip(protos)
            .any(|((x, y), z)| x & y & z != 0)
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
            rules in prop::collection::vec((proto(), ports(), net()), 0..150),
            p in packet_proto(), port in 0u16..45, a in addr(),
        ) {
            let set = SgRuleSet::build(&rules);
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
        let any: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        let mut rules = vec![(Proto::Icmp, PortRange::single(7), any)];
        let set = SgRuleSet::build(&rules);
        assert!(set.allows(Proto::Icmp, 9999, Ipv4Addr::new(1, 2, 3, 4)));
        assert!(!set.allows(Proto::Tcp, 7, Ipv4Addr::new(1, 2, 3, 4)));
        assert!(!SgRuleSet::build(&[]).allows(Proto::Tcp, 7, Ipv4Addr::new(1, 2, 3, 4)));
        rules.push((
            Proto::All,
            PortRange::single(7),
            "10.0.0.0/8".parse().unwrap(),
        ));
        let set = SgRuleSet::build(&rules);
        assert!(set.allows(Proto::Tcp, 9999, Ipv4Addr::new(10, 2, 3, 4)));
        assert!(!set.allows(Proto::Tcp, 9999, Ipv4Addr::new(11, 2, 3, 4)));
    }

    #[test]
    fn many_rules_beyond_one_word() {
        // 200 single-port rules: the match is in the fourth word of the bitsets.
        let rules: Vec<(Proto, PortRange, Ipv4Net)> = (0..200u16)
            .map(|i| {
                (
                    Proto::Tcp,
                    PortRange::single(1000 + i),
                    format!("10.{i}.0.0/16").parse().unwrap(),
                )
            })
            .collect();
        let set = SgRuleSet::build(&rules);
        assert!(set.allows(Proto::Tcp, 1199, Ipv4Addr::new(10, 199, 3, 4)));
        assert!(!set.allows(Proto::Tcp, 1199, Ipv4Addr::new(10, 198, 3, 4)));
        assert!(!set.allows(Proto::Udp, 1199, Ipv4Addr::new(10, 199, 3, 4)));
        assert!(!set.allows(Proto::Tcp, 65535, Ipv4Addr::new(255, 255, 255, 255)));
    }
}
