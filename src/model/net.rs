//! Protocols, port ranges and rule actions shared by security groups and network ACLs.

use std::fmt;

/// Which way a transfer's bytes go. It lives in the model because both the scenario
/// steps that name it and the virtual network that carries the bytes use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the host to the service.
    Upload,
    /// From the service to the host.
    Download,
}

/// An IP protocol as security group and NACL rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1).
    Icmp,
    /// Every protocol (-1).
    All,
}

impl Proto {
    /// Parses the scenario spelling (`tcp`, `udp`, `icmp`, `all`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tcp" => Some(Self::Tcp),
            "udp" => Some(Self::Udp),
            "icmp" => Some(Self::Icmp),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    /// Whether ports are part of a rule for this protocol.
    pub fn has_ports(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp)
    }

    /// Whether a rule for `self` covers packets of protocol `packet`.
    pub fn covers(self, packet: Self) -> bool {
        self == Self::All || self == packet
    }

    /// The IANA protocol number (`-1` for all), as EC2 reports it.
    pub fn number(self) -> i32 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Icmp => 1,
            Self::All => -1,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Icmp => "icmp",
            Self::All => "all",
        })
    }
}

/// An inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    /// The lowest port.
    pub low: u16,
    /// The highest port.
    pub high: u16,
}

impl PortRange {
    /// Every port.
    pub const ALL: Self = Self {
        low: 0,
        high: u16::MAX,
    };

    /// A single port.
    pub fn single(port: u16) -> Self {
        Self {
            low: port,
            high: port,
        }
    }

    /// Whether `port` is in the range.
    pub fn contains(self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }

    /// Parses `"LOW-HIGH"` or `"PORT"`; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parse_port = |p: &str| -> Result<u16, String> {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("`{p}` is not a port number (0 to 65535)"))
        };
        match s.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (parse_port(low)?, parse_port(high)?);
                if low > high {
                    return Err(format!(
                        "port range `{s}` starts above where it ends ({low} > {high})"
                    ));
                }
                Ok(Self { low, high })
            }
            None => parse_port(s).map(Self::single),
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

/// What a NACL entry does with the traffic it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// Let it pass.
    Allow,
    /// Drop it.
    Deny,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(PortRange::parse("443"), Ok(PortRange::single(443)));
        assert_eq!(
            PortRange::parse("1024-65535"),
            Ok(PortRange {
                low: 1024,
                high: 65535
            })
        );
        assert!(
            PortRange::parse("9000-80")
                .unwrap_err()
                .contains("9000 > 80")
        );
        assert!(PortRange::parse("70000").is_err());
        assert!(PortRange::parse("https").is_err());
        assert!(PortRange::single(443).contains(443));
        assert!(!PortRange::single(443).contains(444));
        assert_eq!(
            PortRange::parse("8000-8100").unwrap().to_string(),
            "8000-8100"
        );
    }

    #[test]
    fn protocols() {
        assert_eq!(Proto::parse("tcp"), Some(Proto::Tcp));
        assert_eq!(Proto::parse("TCP"), None);
        assert!(Proto::All.covers(Proto::Udp));
        assert!(!Proto::Tcp.covers(Proto::Udp));
        assert!(!Proto::Icmp.has_ports());
    }
}
