//! The typed form of a lookup, for the scenario runner's `resolve` step.

use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::answer::TTL;
use super::view::{Data, Found};

/// The answer to one name and type in one view.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    /// NOERROR, NXDOMAIN or REFUSED.
    pub rcode: ResponseCode,
    /// CNAMEs then A records (empty for NODATA, NXDOMAIN and REFUSED).
    pub answers: Vec<Record>,
}

impl Lookup {
    /// The addresses of the A records, in answer order (after following CNAMEs).
    pub fn addresses(&self) -> Vec<Ipv4Addr> {
        self.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    /// The TTL of the address records (of the first record when there is no address).
    pub fn ttl(&self) -> Option<u32> {
        self.answers
            .iter()
            .find(|r| r.record_type() == RecordType::A)
            .or_else(|| self.answers.first())
            .map(|r| r.ttl)
    }
}

/// Turns what the shared lookup found into records, the way the wire encoder does.
pub(crate) fn from_found(name: &str, rtype: RecordType, found: Found<'_>) -> Lookup {
    let owner = Name::from_str(name)
        .or_else(|_| Name::from_ascii(name))
        .unwrap_or_default();
    match found {
        Found::Refused { .. } => Lookup {
            rcode: ResponseCode::Refused,
            answers: Vec::new(),
        },
        Found::NxDomain { .. } => Lookup {
            rcode: ResponseCode::NXDomain,
            answers: Vec::new(),
        },
        Found::Name { data, .. } => {
            let wants_a = matches!(rtype, RecordType::A | RecordType::ANY);
            let mut answers = Vec::new();
            match data {
                Some(Data::Cname(cname)) => {
                    let target = Name::from_ascii(String::from_utf8_lossy(&cname.target).as_ref())
                        .unwrap_or_default();
                    answers.push(Record::from_rdata(
                        owner,
                        TTL,
                        RData::CNAME(CNAME(target.clone())),
                    ));
                    if wants_a {
                        answers.extend(
                            cname.addrs.iter().map(|ip| {
                                Record::from_rdata(target.clone(), TTL, RData::A(A(*ip)))
                            }),
                        );
                    }
                }
                Some(Data::A(addrs)) if wants_a => {
                    answers.extend(
                        addrs
                            .iter()
                            .map(|ip| Record::from_rdata(owner.clone(), TTL, RData::A(A(*ip)))),
                    );
                }
                _ => {}
            }
            Lookup {
                rcode: ResponseCode::NoError,
                answers,
            }
        }
    }
}
