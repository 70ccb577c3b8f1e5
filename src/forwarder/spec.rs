//! The `--forward LISTEN=FROM@HOST:PORT` spec of `vpcesim serve`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use crate::policy::Initiator;

/// Why a `--forward` spec does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Not of the form `LISTEN=FROM@HOST:PORT`.
    #[error(
        "`{0}` is not LISTEN=FROM@HOST:PORT (e.g. 127.0.0.1:8443=web-1@kinesis.us-east-1.amazonaws.com:443)"
    )]
    Shape(String),
    /// LISTEN is neither `ADDR:PORT` nor `PORT`.
    #[error("listen address `{0}` is not ADDR:PORT or PORT")]
    Listen(String),
    /// FROM is empty.
    #[error("`{0}` names no source host before `@`")]
    From(String),
    /// HOST is empty or PORT is not a port number.
    #[error("target `{0}` is not HOST:PORT with PORT from 1 to 65535")]
    Target(String),
}

/// One `--forward`: each connection accepted on `listen` is a TCP flow from `from` to
/// `host:port`, `host` resolved through `from`'s view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSpec {
    /// Where the forwarder listens (a bare port means 127.0.0.1).
    pub listen: SocketAddr,
    /// The instance or on-premises host the flows come from; `service:NAME` for flows
    /// the provider's side starts.
    pub from: Initiator,
    /// A DNS name or an IPv4 address.
    pub host: String,
    /// The destination port.
    pub port: u16,
}

impl FromStr for ForwardSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        let (listen, rest) = s
            .split_once('=')
            .ok_or_else(|| SpecError::Shape(s.into()))?;
        let (from, target) = rest
            .split_once('@')
            .ok_or_else(|| SpecError::Shape(s.into()))?;
        let listen = parse_listen(listen.trim())?;
        let from = from.trim();
        if from.is_empty() {
            return Err(SpecError::From(s.into()));
        }
        let from = match from.strip_prefix("service:") {
            Some(name) if !name.is_empty() => Initiator::Provider(name.into()),
            Some(_) => return Err(SpecError::From(s.into())),
            None => Initiator::Host(from.into()),
        };
        let (host, port) = target
            .rsplit_once(':')
            .ok_or_else(|| SpecError::Target(target.into()))?;
        let port: u16 = port.parse().map_err(|_| SpecError::Target(target.into()))?;
        if host.is_empty() || port == 0 || host.contains(char::is_whitespace) {
            return Err(SpecError::Target(target.into()));
        }
        Ok(Self {
            listen,
            from,
            host: host.into(),
            port,
        })
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr, SpecError> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse().map_err(|_| SpecError::Listen(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_parts() {
        let spec: ForwardSpec = "127.0.0.1:8443=web-1@kinesis.us-east-1.amazonaws.com:443"
            .parse()
            .unwrap();
        assert_eq!(spec.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(spec.from, Initiator::Host("web-1".into()));
        assert_eq!(spec.host, "kinesis.us-east-1.amazonaws.com");
        assert_eq!(spec.port, 443);
        let spec: ForwardSpec = "9000=laptop@10.0.10.4:443".parse().unwrap();
        assert_eq!(spec.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(spec.host, "10.0.10.4");
        let spec: ForwardSpec = "[::1]:9000=service:payments@10.0.1.10:22".parse().unwrap();
        assert_eq!(spec.from, Initiator::Provider("payments".into()));
        assert!(spec.listen.is_ipv6());
    }

    #[test]
    fn says_what_is_wrong() {
        let err = |s: &str| s.parse::<ForwardSpec>().unwrap_err();
        assert!(matches!(err("8443"), SpecError::Shape(_)));
        assert!(matches!(err("8443=web-1"), SpecError::Shape(_)));
        assert!(matches!(
            err("localhost:x=web-1@h:443"),
            SpecError::Listen(_)
        ));
        assert!(matches!(err("8443=@h:443"), SpecError::From(_)));
        assert!(matches!(err("8443=service:@h:443"), SpecError::From(_)));
        assert!(matches!(err("8443=web-1@h"), SpecError::Target(_)));
        assert!(matches!(err("8443=web-1@h:0"), SpecError::Target(_)));
        assert!(matches!(err("8443=web-1@h:70000"), SpecError::Target(_)));
        assert!(matches!(err("8443=web-1@:443"), SpecError::Target(_)));
        assert!(err("8443").to_string().contains("LISTEN=FROM@HOST:PORT"));
    }
}
