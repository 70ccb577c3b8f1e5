//! Deterministic AWS-style identifiers.
//!
//! An ID is drawn from a ChaCha stream seeded by the scenario's `seed` and by what the ID
//! is for (kind and name), so the same file gives the same IDs on every run, and adding an
//! object to a file does not change the IDs of the others.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Draws identifiers for one simulated world.
#[derive(Debug, Clone)]
pub struct IdGen {
    seed: u64,
}

impl IdGen {
    /// A generator for the world seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    fn rng(&self, kind: &str, key: &str, attempt: u32) -> ChaCha8Rng {
        // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in kind
            .bytes()
            .chain([0])
            .chain(key.bytes())
            .chain(attempt.to_le_bytes())
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        ChaCha8Rng::seed_from_u64(self.seed ^ hash)
    }

    /// `count` lowercase hex digits for the object `key` of `kind`; `attempt` > 0 redraws
    /// after a collision.
    pub fn hex(&self, kind: &str, key: &str, attempt: u32, count: usize) -> String {
        let mut rng = self.rng(kind, key, attempt);
        (0..count)
            .map(|_| char::from_digit(rng.next_u32() % 16, 16).unwrap_or('0'))
            .collect()
    }

    /// An ID such as `vpce-0fe5b17a0707d6abc`: `prefix-` and 17 hex digits.
    pub fn id(&self, prefix: &str, key: &str, attempt: u32) -> String {
        format!("{prefix}-{}", self.hex(prefix, key, attempt, 17))
    }

    /// The 8-character `[a-z0-9]` part of an endpoint's DNS names (`29p5708s`).
    pub fn dns_suffix(&self, key: &str, attempt: u32) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = self.rng("dns-suffix", key, attempt);
        (0..8)
            .map(|_| char::from(ALPHABET[(rng.next_u32() % 36) as usize]))
            .collect()
    }
}

/// Whether `id` has the shape `prefix-` followed by 8 or 17 lowercase hex digits, as AWS
/// IDs do (old resources have 8, new ones 17).
pub fn is_valid_id(prefix: &str, id: &str) -> bool {
    let Some(rest) = id.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    matches!(rest.len(), 8 | 17)
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `suffix` is 8 characters of `[a-z0-9]`.
pub fn is_valid_dns_suffix(suffix: &str) -> bool {
    suffix.len() == 8
        && suffix
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_shaped() {
        let a = IdGen::new(7);
        let b = IdGen::new(7);
        let id = a.id("vpce", "kinesis", 0);
        assert_eq!(id, b.id("vpce", "kinesis", 0));
        assert!(is_valid_id("vpce", &id), "{id}");
        assert_eq!(id.len(), "vpce-".len() + 17);
    }

    #[test]
    fn ids_depend_on_seed_kind_key_and_attempt() {
        let g = IdGen::new(0);
        let base = g.id("vpce", "a", 0);
        assert_ne!(base, IdGen::new(1).id("vpce", "a", 0));
        assert_ne!(base, g.id("vpce", "b", 0));
        assert_ne!(base, g.id("vpce", "a", 1));
        assert_ne!(g.hex("vpc", "a", 0, 17), g.hex("subnet", "a", 0, 17));
    }

    #[test]
    fn dns_suffix_shape() {
        let g = IdGen::new(3);
        for key in ["a", "b", "c", "kinesis", "s3"] {
            let s = g.dns_suffix(key, 0);
            assert!(is_valid_dns_suffix(&s), "{s}");
        }
        assert_eq!(g.dns_suffix("a", 0), IdGen::new(3).dns_suffix("a", 0));
    }

    #[test]
    fn id_validation() {
        assert!(is_valid_id("vpc", "vpc-ec43eb89"));
        assert!(is_valid_id("vpce", "vpce-088d25a4bbf4a7abc"));
        assert!(is_valid_id("vpce-svc", "vpce-svc-0e123abc123198abc"));
        assert!(!is_valid_id("vpc", "vpc-EC43EB89"));
        assert!(!is_valid_id("vpc", "vpc-ec43eb8"));
        assert!(!is_valid_id("vpc", "subnet-ec43eb89"));
        assert!(!is_valid_id("sg", "sg-xyz12345"));
        assert!(!is_valid_dns_suffix("29p5708"));
        assert!(!is_valid_dns_suffix("29P5708s"));
        assert!(is_valid_dns_suffix("29p5708s"));
    }
}
