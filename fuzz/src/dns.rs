//! DNS wire input: one raw query, answered as the UDP server answers it (512 bytes, or
//! the query's EDNS size) and as the TCP server does (up to 65,535 bytes), through the
//! compiled snapshot both servers share (`DnsSnapshot::answer_into`).
//!
//! The first byte of an input picks the resolver (a view of one repository scenario's
//! snapshot); the rest is the query as it came off the socket.
//!
//! Properties:
//! - nothing panics;
//! - a packet shorter than a header, or a response, gets no answer; every other packet
//!   gets one, on both transports;
//! - every answer parses back as a DNS message (hickory-proto's decoder), is a response
//!   and carries the query's ID; when the query itself parses, the answer's question is
//!   the query's;
//! - the UDP answer fits the transport: at most 512 bytes without EDNS, at most the
//!   largest UDP payload the server ever sends with it;
//! - UDP and TCP agree: the same response code, and byte for byte the same answer
//!   unless the UDP one is truncated (TC).

use std::time::Duration;

use hickory_proto::op::{Message, MessageType};
use vpcesim::dns::{DnsSnapshot, MAX_UDP_PAYLOAD, ViewId};

/// Every resolver an input can address.
pub struct World {
    /// (scenario file name, snapshot index, view) per resolver.
    pub resolvers: Vec<Resolver>,
}

/// One resolver: a view of a compiled snapshot.
pub struct Resolver {
    /// Which scenario and moment it comes from (for messages).
    pub label: String,
    /// The compiled answers.
    pub snapshot: std::sync::Arc<DnsSnapshot>,
    /// The view it answers as.
    pub view: ViewId,
    /// Names worth asking about (for the seed corpus).
    pub names: Vec<String>,
}

impl World {
    /// Every repository scenario, compiled twice: right after loading (endpoints
    /// pending) and a day later (endpoints available, private names active). Each
    /// snapshot is served as the public view, as each of its VPCs' views and as a VPC it
    /// does not know.
    pub fn load() -> Self {
        let mut resolvers = Vec::new();
        for path in crate::repo_scenarios() {
            let file = path.file_name().map_or_else(
                || path.display().to_string(),
                |f| f.to_string_lossy().into_owned(),
            );
            let scenario = vpcesim::scenario::load_file(&path)
                .unwrap_or_else(|e| panic!("a repository scenario does not load: {e}"));
            let mut control = scenario.control;
            for moment in ["loaded", "a-day-later"] {
                if moment == "a-day-later" {
                    control.advance(control.now() + Duration::from_secs(86_400));
                }
                let snapshot = std::sync::Arc::new(DnsSnapshot::compile(&control));
                let names = names_of(&control, &snapshot);
                let mut views = vec![ViewId::Public];
                views.extend(snapshot.vpc_names().into_iter().map(ViewId::Vpc));
                views.push(ViewId::Vpc("no-such-vpc".into()));
                for view in views {
                    resolvers.push(Resolver {
                        label: format!("{file} {moment} {view}"),
                        snapshot: snapshot.clone(),
                        view,
                        names: names.clone(),
                    });
                }
            }
        }
        assert!(!resolvers.is_empty(), "no repository scenario to serve");
        Self { resolvers }
    }

    /// The resolver an input's first byte picks.
    pub fn resolver(&self, selector: u8) -> &Resolver {
        &self.resolvers[usize::from(selector) % self.resolvers.len()]
    }
}

/// The endpoints' DNS entries and the private names of every VPC view.
fn names_of(control: &vpcesim::control::ControlPlane, snapshot: &DnsSnapshot) -> Vec<String> {
    let topology = control.topology();
    let mut names: Vec<String> = topology
        .endpoints
        .values()
        .flat_map(|e| vpcesim::control::names::dns_entries(topology, e))
        .map(|entry| entry.name)
        .collect();
    for vpc in snapshot.vpc_names() {
        names.extend(snapshot.private_names(&vpc));
    }
    names.sort();
    names.dedup();
    names
}

/// Answers `input` (selector byte, then the query) and checks every property.
pub fn check(world: &World, input: &[u8]) {
    let Some((&selector, query)) = input.split_first() else {
        return;
    };
    let resolver = world.resolver(selector);
    let udp = resolver.snapshot.answer_bytes(&resolver.view, query, 512);
    let tcp = resolver
        .snapshot
        .answer_bytes(&resolver.view, query, u16::MAX);
    let context = || format!("resolver {}, query {query:02x?}", resolver.label);

    let answerable = query.len() >= 12 && query[2] & 0x80 == 0;
    if !answerable {
        assert!(
            udp.is_empty() && tcp.is_empty(),
            "a packet that is not a query got an answer: {}",
            context()
        );
        return;
    }
    let id = u16::from_be_bytes([query[0], query[1]]);
    let parsed_query = Message::from_vec(query).ok();
    let mut answers = Vec::new();
    for (transport, bytes) in [("UDP", &udp), ("TCP", &tcp)] {
        assert!(!bytes.is_empty(), "no {transport} answer: {}", context());
        let answer = Message::from_vec(bytes).unwrap_or_else(|e| {
            panic!(
                "the {transport} answer does not parse ({e}): {}, answer {bytes:02x?}",
                context()
            )
        });
        assert_eq!(
            answer.metadata.id,
            id,
            "{transport} answer ID: {}",
            context()
        );
        assert_eq!(
            answer.metadata.message_type,
            MessageType::Response,
            "{transport} answer is not a response: {}",
            context()
        );
        if let Some(q) = &parsed_query
            && q.queries.len() == 1
            && !answer.queries.is_empty()
        {
            assert_eq!(
                answer.queries,
                q.queries,
                "{transport} answer's question: {}",
                context()
            );
        }
        answers.push(answer);
    }
    let (udp_answer, tcp_answer) = (&answers[0], &answers[1]);
    assert!(
        udp.len() <= usize::from(MAX_UDP_PAYLOAD),
        "UDP answer of {} bytes: {}",
        udp.len(),
        context()
    );
    let query_has_edns = parsed_query.as_ref().is_some_and(|q| q.edns.is_some());
    if parsed_query.is_some() && !query_has_edns {
        assert!(
            udp.len() <= 512,
            "UDP answer of {} bytes to a query without EDNS: {}",
            udp.len(),
            context()
        );
    }
    assert_eq!(
        udp_answer.metadata.response_code,
        tcp_answer.metadata.response_code,
        "UDP and TCP answer with different codes: {}",
        context()
    );
    if !udp_answer.metadata.truncation {
        assert_eq!(udp, tcp, "UDP and TCP answers differ: {}", context());
    }
}

/// A query for `name` of type `rtype` with ID `id`; `edns` adds an OPT record with that
/// payload size (and version 0).
pub fn query(id: u16, name: &str, rtype: u16, edns: Option<u16>) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        q.push(u8::try_from(label.len()).unwrap_or(63).min(63));
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.push(0);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if let Some(size) = edns {
        q.push(0);
        q.extend_from_slice(&41u16.to_be_bytes());
        q.extend_from_slice(&size.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    q
}
