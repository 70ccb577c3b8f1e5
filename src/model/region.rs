//! AWS Regions: the fixed list vpcesim accepts, their AZ naming and their
//! canonical hosted zone for vpce names.
//!
//! A Region is only ever built from that list, so every method can rely on the
//! name having the `<area>-[gov-]<direction>-<n>` shape.

use std::fmt;
use std::str::FromStr;

/// Every Region vpcesim knows, with its canonical hosted zone ID for
/// `<region>.vpce.amazonaws.com` where a real one is published.
///
/// The real IDs are the "VPC Endpoint (PrivateLink)" section of
/// `canonicalHostedZones` in kubernetes-sigs/external-dns `provider/aws/aws.go`
/// (<https://github.com/kubernetes-sigs/external-dns>). `None` means no public source
/// was found; those Regions get a synthetic ID (see [`Region::vpce_hosted_zone_id`]).
const REGIONS: &[(&str, Option<&str>)] = &[
    ("af-south-1", Some("Z09302161J80N9A7UTP7U")),
    ("ap-east-1", Some("Z2LIHJ7PKBEMWN")),
    ("ap-northeast-1", Some("Z2E726K9Y6RL4W")),
    ("ap-northeast-2", Some("Z27UANNT0PRK1T")),
    ("ap-northeast-3", Some("Z376B5OMM2JZL2")),
    ("ap-south-1", Some("Z2KVTB3ZLFM7JR")),
    ("ap-south-2", Some("Z0952991RWSF5AHIQDIY")),
    ("ap-southeast-1", Some("Z18LLCSTV4NVNL")),
    ("ap-southeast-2", Some("ZDK2GCRPAFKGO")),
    ("ap-southeast-3", Some("Z03881013RZ9BYYZO8N5W")),
    ("ap-southeast-4", Some("Z07508191CO1RNBX3X3AU")),
    ("ap-southeast-5", None),
    ("ap-southeast-7", None),
    ("ca-central-1", Some("ZRCXCF510Y6P9")),
    ("ca-west-1", None),
    ("cn-north-1", None),
    ("cn-northwest-1", None),
    ("eu-central-1", Some("Z273ZU8SZ5RJPC")),
    ("eu-central-2", Some("Z045369019J4FUQ4S272E")),
    ("eu-north-1", Some("Z3OWWK6JFDEDGC")),
    ("eu-south-1", Some("Z2A5FDNRLY7KZG")),
    ("eu-south-2", Some("Z014396544HENR57XQCJ")),
    ("eu-west-1", Some("Z38GZ743OKFT7T")),
    ("eu-west-2", Some("Z7K1066E3PUKB")),
    ("eu-west-3", Some("Z1DWHTMFP0WECP")),
    ("il-central-1", None),
    ("me-central-1", Some("Z07122992YCEUCB9A9570")),
    ("me-south-1", Some("Z3B95P3VBGEQGY")),
    ("mx-central-1", None),
    ("sa-east-1", Some("Z2LXUWEVLCVZIB")),
    ("us-east-1", Some("Z7HUB22UULQXV")),
    ("us-east-2", Some("ZC8PG0KIFKBRI")),
    ("us-gov-east-1", Some("Z2MU5TEIGO9WXB")),
    ("us-gov-west-1", Some("Z12529ZODG2B6H")),
    ("us-west-1", Some("Z12I86A8N7VCZO")),
    ("us-west-2", Some("Z1YSA3EXCYUU9Z")),
];

/// Letters of the AZ names a Region has by default (docs/behaviour.md §9: six AZs).
const DEFAULT_AZ_LETTERS: &[char] = &['a', 'b', 'c', 'd', 'e', 'f'];

/// An AWS Region such as `us-east-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

/// Why a string is not a Region.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// The name is not in vpcesim's list of Regions.
    #[error("`{0}` is not an AWS Region (expected a name like us-east-1)")]
    Unknown(String),
}

impl Region {
    /// Parses a Region name; only Regions that exist are accepted, because a
    /// typo would otherwise silently build a separate, empty Region.
    pub fn parse(name: &str) -> Result<Self, RegionError> {
        REGIONS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(known, _)| Self((*known).to_owned()))
            .ok_or_else(|| RegionError::Unknown(name.to_owned()))
    }

    /// Every Region vpcesim knows, sorted by name.
    pub fn all() -> impl Iterator<Item = Self> {
        REGIONS.iter().map(|(name, _)| Self((*name).to_owned()))
    }

    /// The Region's name, e.g. `us-east-1`.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// AZ ID prefix: us-east-1 -> "use1", eu-central-1 -> "euc1",
    /// ap-northeast-1 -> "apne1", us-gov-west-1 -> "usgw1", cn-northwest-1 -> "cnnw1"
    /// (the area code, the initials of the middle words, then the number).
    pub fn az_id_prefix(&self) -> String {
        let mut parts = self.0.split('-');
        let mut prefix = String::from(parts.next().unwrap_or_default());
        for word in parts {
            let short = match word {
                "gov" => "g",
                "north" => "n",
                "south" => "s",
                "east" => "e",
                "west" => "w",
                "central" => "c",
                "northeast" => "ne",
                "southeast" => "se",
                "northwest" => "nw",
                "southwest" => "sw",
                // The number, or a word no listed Region uses: keep it whole.
                other => other,
            };
            prefix.push_str(short);
        }
        prefix
    }

    /// The Region's canonical hosted zone ID for vpce names (the Route 53 alias
    /// target listed in `DnsEntries`).
    ///
    /// Regions without a published value get a synthetic ID: `Z` and 13
    /// uppercase letters or digits, derived from the name by FNV-1a so it is the
    /// same on every run. It looks real but is not AWS's.
    pub fn vpce_hosted_zone_id(&self) -> String {
        match REGIONS.iter().find(|(name, _)| *name == self.0) {
            Some((_, Some(id))) => (*id).to_owned(),
            _ => synthetic_zone_id(&self.0),
        }
    }

    /// The six default AZ names `<region>a` .. `<region>f` (docs/behaviour.md §9).
    pub fn default_az_names(&self) -> Vec<String> {
        DEFAULT_AZ_LETTERS
            .iter()
            .map(|letter| format!("{}{letter}", self.0))
            .collect()
    }

    /// The default AZ ID for an AZ name of this Region: `<region>a` ->
    /// `<prefix>-az1`, `b` -> `az2`, ... `z` -> `az26`.
    ///
    /// Returns `None` for a name not of this Region or not ending in a single
    /// letter `a`-`z`. Real accounts shuffle this mapping; scenarios that care
    /// set `az_ids` explicitly.
    pub fn default_az_id(&self, az_name: &str) -> Option<String> {
        let mut rest = az_name.strip_prefix(self.0.as_str())?.chars();
        let letter = rest.next().filter(char::is_ascii_lowercase)?;
        if rest.next().is_some() {
            return None;
        }
        let index = u32::from(letter) - u32::from('a') + 1;
        Some(format!("{}-az{index}", self.az_id_prefix()))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Region {
    type Err = RegionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Lets serde-facing types use `#[serde(try_from = "String")]` without this
/// module depending on serde.
impl TryFrom<String> for Region {
    type Error = RegionError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl AsRef<str> for Region {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// `us-east-1`, the Region scenarios get when they name none.
impl Default for Region {
    fn default() -> Self {
        Self("us-east-1".to_owned())
    }
}

/// A stable 64-bit FNV-1a hash (std's `DefaultHasher` may change between
/// releases, and synthetic IDs must not).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `Z` + 13 base-36 characters derived from the Region name.
fn synthetic_zone_id(name: &str) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut state = fnv1a64(format!("vpcesim/vpce-hosted-zone/{name}").as_bytes());
    let mut id = String::from("Z");
    for _ in 0..13 {
        // splitmix64 step: spreads the one hash over all 13 characters.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let digit = usize::try_from(z % 36).unwrap_or_default();
        id.push(char::from(ALPHABET[digit]));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str) -> Region {
        Region::parse(name).expect("a known region")
    }

    #[test]
    fn parses_every_listed_region() {
        let names = [
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "af-south-1",
            "ap-east-1",
            "ap-south-1",
            "ap-south-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-7",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "il-central-1",
            "me-south-1",
            "me-central-1",
            "sa-east-1",
            "us-gov-west-1",
            "us-gov-east-1",
            "cn-north-1",
            "cn-northwest-1",
            "mx-central-1",
        ];
        for name in names {
            assert_eq!(region(name).name(), name);
        }
        assert_eq!(Region::all().count(), names.len());
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(REGIONS.windows(2).all(|w| w[0].0 < w[1].0));
        let all: Vec<Region> = Region::all().collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rejects_unknown_names() {
        for bad in [
            "",
            "us-east-9",
            "US-EAST-1",
            "us-east-1 ",
            "useast1",
            "us-east-1a",
            "moon-1",
        ] {
            assert_eq!(
                Region::parse(bad),
                Err(RegionError::Unknown(bad.to_owned())),
                "{bad:?}"
            );
        }
        let message = Region::parse("mars-1").unwrap_err().to_string();
        assert_eq!(
            message,
            "`mars-1` is not an AWS Region (expected a name like us-east-1)"
        );
    }

    #[test]
    fn from_str_display_and_default() {
        let parsed: Region = "eu-west-1".parse().expect("known");
        assert_eq!(parsed.to_string(), "eu-west-1");
        assert_eq!(parsed.as_ref(), "eu-west-1");
        assert!("nowhere-1".parse::<Region>().is_err());
        assert_eq!(Region::default(), region("us-east-1"));
        assert_eq!(
            Region::try_from(String::from("ca-west-1")),
            Ok(region("ca-west-1"))
        );
    }

    #[test]
    fn az_id_prefixes() {
        for (name, prefix) in [
            ("us-east-1", "use1"),
            ("us-east-2", "use2"),
            ("us-west-2", "usw2"),
            ("eu-central-1", "euc1"),
            ("eu-north-1", "eun1"),
            ("eu-south-2", "eus2"),
            ("ap-northeast-1", "apne1"),
            ("ap-southeast-2", "apse2"),
            ("ap-south-1", "aps1"),
            ("ap-east-1", "ape1"),
            ("us-gov-west-1", "usgw1"),
            ("us-gov-east-1", "usge1"),
            ("cn-north-1", "cnn1"),
            ("cn-northwest-1", "cnnw1"),
            ("ca-central-1", "cac1"),
            ("ca-west-1", "caw1"),
            ("il-central-1", "ilc1"),
            ("me-central-1", "mec1"),
            ("sa-east-1", "sae1"),
            ("af-south-1", "afs1"),
            ("mx-central-1", "mxc1"),
        ] {
            assert_eq!(region(name).az_id_prefix(), prefix, "{name}");
        }
    }

    #[test]
    fn az_id_prefixes_are_short_and_distinct() {
        let mut prefixes: Vec<String> = Region::all().map(|r| r.az_id_prefix()).collect();
        for prefix in &prefixes {
            assert!(
                prefix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            );
            assert!((4..=6).contains(&prefix.len()), "{prefix}");
        }
        prefixes.sort();
        prefixes.dedup();
        assert_eq!(prefixes.len(), Region::all().count());
    }

    #[test]
    fn default_az_names_are_a_to_f() {
        assert_eq!(
            region("eu-west-1").default_az_names(),
            [
                "eu-west-1a",
                "eu-west-1b",
                "eu-west-1c",
                "eu-west-1d",
                "eu-west-1e",
                "eu-west-1f"
            ]
        );
    }

    #[test]
    fn default_az_ids() {
        let r = region("us-east-1");
        assert_eq!(r.default_az_id("us-east-1a").as_deref(), Some("use1-az1"));
        assert_eq!(r.default_az_id("us-east-1b").as_deref(), Some("use1-az2"));
        assert_eq!(r.default_az_id("us-east-1f").as_deref(), Some("use1-az6"));
        assert_eq!(r.default_az_id("us-east-1z").as_deref(), Some("use1-az26"));
        let gov = region("us-gov-west-1");
        assert_eq!(
            gov.default_az_id("us-gov-west-1c").as_deref(),
            Some("usgw1-az3")
        );
        for bad in [
            "us-east-1",
            "us-east-1ab",
            "us-east-1A",
            "us-east-11",
            "us-east-2a",
            "us-east-1-",
            "xus-east-1a",
            "us-east-1é",
        ] {
            assert_eq!(r.default_az_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_default_az_has_an_id() {
        for r in Region::all() {
            let ids: Vec<String> = r
                .default_az_names()
                .iter()
                .map(|az| r.default_az_id(az).expect("default az"))
                .collect();
            let expected: Vec<String> = (1..=6)
                .map(|n| format!("{}-az{n}", r.az_id_prefix()))
                .collect();
            assert_eq!(ids, expected);
        }
    }

    #[test]
    fn known_hosted_zone_ids() {
        for (name, id) in [
            ("us-east-1", "Z7HUB22UULQXV"),
            ("us-east-2", "ZC8PG0KIFKBRI"),
            ("us-west-1", "Z12I86A8N7VCZO"),
            ("us-west-2", "Z1YSA3EXCYUU9Z"),
            ("eu-west-1", "Z38GZ743OKFT7T"),
            ("eu-west-2", "Z7K1066E3PUKB"),
            ("eu-central-1", "Z273ZU8SZ5RJPC"),
            ("ap-northeast-1", "Z2E726K9Y6RL4W"),
            ("us-gov-west-1", "Z12529ZODG2B6H"),
        ] {
            assert_eq!(region(name).vpce_hosted_zone_id(), id, "{name}");
        }
    }

    #[test]
    fn synthetic_hosted_zone_ids_are_stable_and_well_formed() {
        let synthetic: Vec<Region> = REGIONS
            .iter()
            .filter(|(_, id)| id.is_none())
            .map(|(name, _)| region(name))
            .collect();
        assert_eq!(synthetic.len(), 7);
        let mut ids = Vec::new();
        for r in &synthetic {
            let id = r.vpce_hosted_zone_id();
            assert_eq!(id, r.vpce_hosted_zone_id());
            assert_eq!(id.len(), 14, "{id}");
            assert!(id.starts_with('Z'));
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            );
            ids.push(id);
        }
        // Pinned: a change to the derivation changes every scenario's output.
        assert_eq!(
            region("il-central-1").vpce_hosted_zone_id(),
            "Z0E8DFP0EFM5UU"
        );
        let mut all: Vec<String> = Region::all().map(|r| r.vpce_hosted_zone_id()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), REGIONS.len());
    }

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
