//! Unit tests of the sans-IO core: the lookup over the layers, the encoder, and the
//! promise that no input panics.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use proptest::prelude::*;

use super::synth::{Spec, world};
use super::{DnsSnapshot, ViewId};

fn snapshot() -> (crate::control::ControlPlane, DnsSnapshot) {
    let control = world(Spec {
        vpcs: 3,
        endpoints: 12,
        azs: 2,
    });
    let snapshot = DnsSnapshot::compile(&control);
    (control, snapshot)
}

fn regional(control: &crate::control::ControlPlane, ep: &str) -> String {
    let t = control.topology();
    let e = &t.endpoints[ep];
    let info = crate::control::ServiceInfo::of(t, &e.service).unwrap();
    crate::control::names::regional_name(t, e, &info)
}

fn query(name: &str, rtype: u16) -> Vec<u8> {
    let mut q = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

#[test]
fn wire_and_typed_answers_agree() {
    let (control, snap) = snapshot();
    let name = regional(&control, "ep-3");
    for view in [
        ViewId::Public,
        ViewId::Vpc("vpc-0".into()),
        ViewId::Vpc("nope".into()),
    ] {
        for (rtype, code) in [(RecordType::A, 1u16), (RecordType::AAAA, 28)] {
            let typed = snap.lookup(&view, &name, rtype);
            let wire =
                Message::from_vec(&snap.answer_bytes(&view, &query(&name, code), 512)).unwrap();
            assert_eq!(typed.rcode, wire.metadata.response_code, "{view} {rtype}");
            assert_eq!(typed.answers.len(), wire.answers.len(), "{view} {rtype}");
        }
    }
    // An unknown VPC has no resolver.
    assert_eq!(
        snap.lookup(&ViewId::Vpc("nope".into()), &name, RecordType::A)
            .rcode,
        ResponseCode::Refused
    );
    let typed = snap.lookup(&ViewId::Public, &name, RecordType::A);
    assert_eq!(typed.addresses().len(), 2);
    assert_eq!(typed.ttl(), Some(60));
}

#[test]
fn answers_compress_owners_into_the_question() {
    let (control, snap) = snapshot();
    let name = regional(&control, "ep-0");
    let bytes = snap.answer_bytes(&ViewId::Public, &query(&name, 1), 512);
    // header + question + 2 x 16-byte A records, no OPT.
    assert_eq!(bytes.len(), 12 + name.len() + 2 + 4 + 32);
    assert_eq!(&bytes[..2], &[0xab, 0xcd]);
}

#[test]
fn generation_serial_and_noop_update() {
    let (control, snap) = snapshot();
    assert_eq!(snap.generation(), control.generation());
    let again = snap.update(&control);
    assert!(
        std::sync::Arc::ptr_eq(&snap.0, &again.0),
        "nothing changed: the same snapshot"
    );
}

proptest! {
    #[test]
    fn no_input_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), max in any::<u16>()) {
        let (_, snap) = snapshot();
        for view in [ViewId::Public, ViewId::Vpc("vpc-1".into())] {
            let out = snap.answer_bytes(&view, &bytes, max);
            prop_assert!(out.is_empty() || out.len() >= 12);
        }
    }

    #[test]
    fn mutated_queries_never_panic_and_keep_the_id(pos in 0usize..80, byte in any::<u8>(), cut in 0usize..80) {
        let (control, snap) = snapshot();
        let mut q = query(&regional(&control, "ep-1"), 1);
        if pos < q.len() { q[pos] = byte; }
        q.truncate(q.len().saturating_sub(cut % 10));
        let out = snap.answer_bytes(&ViewId::Public, &q, 512);
        if !out.is_empty() {
            prop_assert_eq!(&out[..2], &q[..2]);
            prop_assert!(out.len() <= 512.max(usize::from(crate::dns::MAX_UDP_PAYLOAD)));
        }
    }
}
