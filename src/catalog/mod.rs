//! The built-in catalog of AWS services that interface endpoints can reach: every
//! service of AWS's PrivateLink list with a `com.amazonaws.<region>.<short>` name, in
//! every Region (the rows and their sources are in [`table`]).
//!
//! The catalog is data only: names, ports and a deterministic set of public addresses
//! per service and Region. It owns no state and knows nothing of endpoints, VPCs or DNS
//! views. Each Region's catalog is built once, on first use, and then shared: lookups
//! by service name and by private DNS name are hash-map reads.

mod addresses;
mod table;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{LazyLock, OnceLock};

use crate::model::region::Region;

use table::{Names, ROWS, Row};

/// One AWS service in the built-in catalog, as seen in one Region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogService {
    /// The full service name, e.g. `com.amazonaws.us-east-1.ecr.api`.
    pub service_name: String,
    /// The part after `com.amazonaws.<region>.`, e.g. `ecr.api`.
    pub short_name: &'static str,
    /// DNS service part of vpce names, normally the short name with its dotted
    /// components reversed: `api.ecr`.
    pub dns_part: String,
    /// The private DNS names, e.g. `kinesis.us-east-1.amazonaws.com` or
    /// `*.execute-api.us-east-1.amazonaws.com`; empty for a service without private
    /// DNS support.
    pub private_dns_names: Vec<String>,
    /// TCP ports the service listens on behind an endpoint, ascending.
    pub ports: Vec<u16>,
    /// The public IPv4 addresses the default name resolves to outside a VPC
    /// with private DNS: 2 or 3, deterministic, unique within the Region.
    pub public_addresses: Vec<Ipv4Addr>,
    /// Whether private DNS is on when an endpoint does not say (false for S3 and for
    /// services without private DNS).
    pub private_dns_by_default: bool,
    /// `VpcEndpointPolicySupported` (true for every AWS service).
    pub policy_supported: bool,
    /// `BaseEndpointDnsNames`: `["<dns_part>.<region>.vpce.amazonaws.com"]`.
    pub base_endpoint_dns_names: Vec<String>,
    /// The Region.
    pub region: Region,
}

impl CatalogService {
    /// The zone(s) a DNS server serves for this service's default name: for
    /// `*.X` the zone is `X`, for a plain name the name itself.
    pub fn default_name_zones(&self) -> Vec<String> {
        let mut zones: Vec<String> = Vec::new();
        for name in &self.private_dns_names {
            let zone = name.strip_prefix("*.").unwrap_or(name);
            if !zones.iter().any(|z| z == zone) {
                zones.push(zone.to_owned());
            }
        }
        zones
    }

    /// True when `name` is one of the private DNS names, or matched by a
    /// wildcard one.
    ///
    /// RFC 4592: `*.X` matches any name with at least one more label below `X`,
    /// not `X` itself. Names compare case-insensitively (RFC 4343) and a
    /// trailing dot is ignored, so callers may pass a query name as it came.
    pub fn private_name_matches(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name);
        self.private_dns_names
            .iter()
            .any(|private| match private.strip_prefix("*.") {
                Some(zone) => is_strictly_below(name, zone),
                None => name.eq_ignore_ascii_case(private),
            })
    }

    /// Whether `needle` (already lowercase) occurs in the service name or in one of
    /// the private DNS names.
    fn mentions(&self, needle: &str) -> bool {
        self.service_name.contains(needle)
            || self.private_dns_names.iter().any(|n| n.contains(needle))
    }
}

/// Whether `name` is `<one or more non-empty labels>.<zone>`.
fn is_strictly_below(name: &str, zone: &str) -> bool {
    let (name, zone) = (name.as_bytes(), zone.as_bytes());
    let Some(split) = name.len().checked_sub(zone.len() + 1) else {
        return false;
    };
    let (prefix, rest) = name.split_at(split);
    rest[0] == b'.'
        && rest[1..].eq_ignore_ascii_case(zone)
        && prefix.split(|&b| b == b'.').all(|label| !label.is_empty())
}

/// One Region's catalog with its indexes.
#[derive(Debug, Default)]
struct RegionCatalog {
    /// Every service, sorted by short name.
    services: Vec<CatalogService>,
    /// Full service name -> index in `services`.
    by_name: HashMap<String, usize>,
    /// Private DNS name as written (`*.x` for a wildcard), lowercase -> index.
    by_private_name: HashMap<String, usize>,
}

/// One lazily built catalog per Region vpcesim knows.
static CATALOGS: LazyLock<HashMap<String, OnceLock<RegionCatalog>>> = LazyLock::new(|| {
    Region::all()
        .map(|r| (r.name().to_owned(), OnceLock::new()))
        .collect()
});

/// Every short name, for [`is_other_region_service`].
static SHORT_NAMES: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| ROWS.iter().map(|row| row.short).collect());

/// The catalog of `region`, built on first use.
fn catalog(region: &Region) -> &'static RegionCatalog {
    static EMPTY: LazyLock<RegionCatalog> = LazyLock::new(RegionCatalog::default);
    // Every `Region` comes from vpcesim's list, so the cell exists; the empty
    // catalog only keeps this total.
    CATALOGS
        .get(region.name())
        .map_or(&*EMPTY, |cell| cell.get_or_init(|| build_region(region)))
}

/// Builds every service of `region`: addresses in row order (so a new row never moves
/// an older row's addresses), then sorted by short name and indexed.
fn build_region(region: &Region) -> RegionCatalog {
    let mut used = BTreeSet::new();
    let mut services: Vec<CatalogService> = ROWS
        .iter()
        .map(|row| build(region, row, &mut used))
        .collect();
    services.sort_by(|a, b| a.short_name.cmp(b.short_name));
    let by_name = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.service_name.clone(), i))
        .collect();
    let by_private_name = services
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.private_dns_names
                .iter()
                .map(move |name| (name.to_ascii_lowercase(), i))
        })
        .collect();
    RegionCatalog {
        services,
        by_name,
        by_private_name,
    }
}

/// Builds one service, taking its public addresses out of `used` so no two
/// services of the Region share one.
fn build(region: &Region, row: &Row, used: &mut BTreeSet<Ipv4Addr>) -> CatalogService {
    let name = region.name();
    let dns_part = row.dns_part.map_or_else(
        || row.short.split('.').rev().collect::<Vec<_>>().join("."),
        str::to_owned,
    );
    let private_dns_names: Vec<String> = match row.names {
        Names::Standard => vec![format!("{dns_part}.{name}.amazonaws.com")],
        Names::Templates(templates) => templates
            .iter()
            .map(|t| t.replace("{region}", name))
            .collect(),
        Names::None => Vec::new(),
    };
    CatalogService {
        service_name: format!("com.amazonaws.{name}.{}", row.short),
        short_name: row.short,
        base_endpoint_dns_names: vec![format!("{dns_part}.{name}.vpce.amazonaws.com")],
        dns_part,
        // S3's private DNS is off unless asked for (its guide: "Enable DNS name" must be
        // chosen); every other service with a private name has it on by default.
        private_dns_by_default: !private_dns_names.is_empty() && row.short != "s3",
        private_dns_names,
        ports: row.ports.to_vec(),
        public_addresses: addresses::public_addresses(name, row.short, used),
        policy_supported: true,
        region: region.clone(),
    }
}

/// Every catalog service of a Region, sorted by short name.
pub fn services(region: &Region) -> &'static [CatalogService] {
    &catalog(region).services
}

/// The catalog service with this full service name, if the name is of `region` and in
/// the catalog.
pub fn lookup(region: &Region, service_name: &str) -> Option<&'static CatalogService> {
    let catalog = catalog(region);
    catalog
        .by_name
        .get(service_name)
        .map(|&i| &catalog.services[i])
}

/// The catalog service whose private DNS name `name` is, or is matched by (a wildcard
/// name matches one or more labels below it, RFC 4592). Case-insensitive; a trailing
/// dot is ignored.
pub fn by_private_name(region: &Region, name: &str) -> Option<&'static CatalogService> {
    let catalog = catalog(region);
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.is_empty() || name.split('.').any(str::is_empty) {
        return None;
    }
    let find = |key: &str| {
        catalog
            .by_private_name
            .get(key)
            .map(|&i| &catalog.services[i])
    };
    find(&name).or_else(|| {
        name.match_indices('.')
            .find_map(|(dot, _)| find(&format!("*{}", &name[dot..])))
    })
}

/// The services whose service name or private DNS names contain `text`, ignoring case,
/// in catalog order. An empty `text` matches every service.
pub fn search(region: &Region, text: &str) -> Vec<&'static CatalogService> {
    let needle = text.to_ascii_lowercase();
    services(region)
        .iter()
        .filter(|s| s.mentions(&needle))
        .collect()
}

/// Whether `service_name` looks like an AWS service name of another Region
/// (`com.amazonaws.<other-region>.<short>` with a known short name); used for
/// the `InvalidServiceName` error message.
pub fn is_other_region_service(region: &Region, service_name: &str) -> bool {
    let Some((other, short)) = service_name
        .strip_prefix("com.amazonaws.")
        .and_then(|rest| rest.split_once('.'))
    else {
        return false;
    };
    other != region.name() && Region::parse(other).is_ok() && SHORT_NAMES.contains(short)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The short names of the original PrivateLink list, plus S3.
    const ORIGINAL: &[&str] = &[
        "execute-api",
        "appstream.api",
        "appmesh-envoy-management",
        "application-autoscaling",
        "athena",
        "autoscaling-plans",
        "clouddirectory",
        "cloudformation",
        "cloudtrail",
        "monitoring",
        "events",
        "logs",
        "codebuild",
        "codecommit",
        "git-codecommit",
        "codepipeline",
        "config",
        "datasync",
        "devicefarm",
        "ec2",
        "autoscaling",
        "elasticfilesystem",
        "elasticloadbalancing",
        "ecr.api",
        "ecr.dkr",
        "ecs",
        "ecs-agent",
        "ecs-telemetry",
        "elasticmapreduce",
        "glue",
        "kms",
        "kinesis-firehose",
        "kinesis-streams",
        "managedblockchain",
        "qldb.session",
        "rekognition",
        "sagemaker.api",
        "sagemaker.runtime",
        "notebook",
        "secretsmanager",
        "sts",
        "sms",
        "servicecatalog",
        "sns",
        "sqs",
        "states",
        "ssm",
        "ssmmessages",
        "ec2messages",
        "storagegateway",
        "transfer.server",
        "workspaces",
        "s3",
    ];

    fn region(name: &str) -> Region {
        Region::parse(name).expect("a known region")
    }

    fn service(region_name: &str, short: &str) -> &'static CatalogService {
        let name = format!("com.amazonaws.{region_name}.{short}");
        lookup(&region(region_name), &name).expect("in the catalog")
    }

    #[test]
    fn the_full_list_with_every_original_service_exactly_once() {
        let catalog = services(&Region::default());
        assert_eq!(catalog.len(), ROWS.len());
        assert!(catalog.len() >= 150, "{} services", catalog.len());
        for short in ORIGINAL {
            let hits = catalog.iter().filter(|s| s.short_name == *short).count();
            assert_eq!(hits, 1, "{short}");
        }
        // The original rows come first, so their addresses never move (see `table`).
        let first: Vec<&str> = ROWS[..ORIGINAL.len()].iter().map(|r| r.short).collect();
        let mut original = ORIGINAL.to_vec();
        original.sort_unstable();
        assert_eq!(first, original);
    }

    #[test]
    fn service_names_are_well_formed_and_unique() {
        for r in Region::all() {
            let mut names = BTreeSet::new();
            let mut private = BTreeSet::new();
            let mut parts = BTreeSet::new();
            for s in services(&r) {
                let short = s.short_name;
                assert!(!short.is_empty() && !short.ends_with("-fips"), "{short}");
                assert!(
                    short.split('.').all(|label| !label.is_empty()
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')),
                    "{short}"
                );
                assert_eq!(
                    s.service_name,
                    format!("com.amazonaws.{}.{short}", r.name())
                );
                assert!(names.insert(s.service_name.clone()), "{}", s.service_name);
                assert!(parts.insert(s.dns_part.clone()), "{}", s.dns_part);
                for name in &s.private_dns_names {
                    let plain = name.strip_prefix("*.").unwrap_or(name);
                    assert!(
                        plain.split('.').all(|l| !l.is_empty() && !l.contains('*')),
                        "{name}"
                    );
                    assert!(name.len() <= 253, "{name}");
                    assert!(private.insert(name.clone()), "{name} twice in {r}");
                }
            }
        }
    }

    #[test]
    fn sorted_by_short_name() {
        let catalog = services(&region("eu-west-1"));
        assert!(
            catalog
                .windows(2)
                .all(|w| w[0].short_name < w[1].short_name)
        );
    }

    #[test]
    fn service_names_and_dns_parts() {
        for (short, dns_part) in [
            ("ecr.api", "api.ecr"),
            ("ecr.dkr", "dkr.ecr"),
            ("sagemaker.runtime", "runtime.sagemaker"),
            ("sagemaker.api", "api.sagemaker"),
            ("qldb.session", "session.qldb"),
            ("appstream.api", "api.appstream"),
            ("transfer.server", "server.transfer"),
            ("execute-api", "execute-api"),
            ("ec2", "ec2"),
        ] {
            let s = service("us-east-1", short);
            assert_eq!(s.service_name, format!("com.amazonaws.us-east-1.{short}"));
            assert_eq!(s.dns_part, dns_part, "{short}");
            assert_eq!(
                s.base_endpoint_dns_names,
                [format!("{dns_part}.us-east-1.vpce.amazonaws.com")]
            );
        }
    }

    #[test]
    fn standard_default_names_reverse_dotted_parts() {
        assert_eq!(
            service("us-east-1", "ecr.api").private_dns_names,
            ["api.ecr.us-east-1.amazonaws.com"]
        );
        assert_eq!(
            service("eu-west-2", "sagemaker.runtime").private_dns_names,
            ["runtime.sagemaker.eu-west-2.amazonaws.com"]
        );
        assert_eq!(
            service("us-east-1", "qldb.session").private_dns_names,
            ["session.qldb.us-east-1.amazonaws.com"]
        );
        assert_eq!(
            service("us-east-1", "elasticloadbalancing").private_dns_names,
            ["elasticloadbalancing.us-east-1.amazonaws.com"]
        );
        assert_eq!(
            service("us-east-1", "codecommit").private_dns_names,
            ["codecommit.us-east-1.amazonaws.com"]
        );
        assert_eq!(
            service("us-east-1", "git-codecommit").private_dns_names,
            ["git-codecommit.us-east-1.amazonaws.com"]
        );
    }

    #[test]
    fn exception_default_names() {
        let r = "ap-southeast-2";
        for (short, name) in [
            ("kinesis-streams", "kinesis.ap-southeast-2.amazonaws.com"),
            ("execute-api", "*.execute-api.ap-southeast-2.amazonaws.com"),
            ("ecr.dkr", "*.dkr.ecr.ap-southeast-2.amazonaws.com"),
            ("notebook", "*.notebook.ap-southeast-2.sagemaker.aws"),
            ("kinesis-firehose", "firehose.ap-southeast-2.amazonaws.com"),
            ("appsync-api", "*.appsync-api.ap-southeast-2.amazonaws.com"),
            (
                "codeartifact.api",
                "codeartifact.ap-southeast-2.amazonaws.com",
            ),
            (
                "codeartifact.repositories",
                "*.d.codeartifact.ap-southeast-2.amazonaws.com",
            ),
        ] {
            assert_eq!(service(r, short).private_dns_names, [name], "{short}");
        }
        // S3: the bucket wildcard (shown as `PrivateDnsName`) and the bare regional name.
        assert_eq!(
            service(r, "s3").private_dns_names,
            [
                "*.s3.ap-southeast-2.amazonaws.com",
                "s3.ap-southeast-2.amazonaws.com"
            ]
        );
        assert_eq!(
            service(r, "codeartifact.repositories").dns_part,
            "d.codeartifact"
        );
        assert_eq!(
            service(r, "lambda").private_dns_names,
            ["lambda.ap-southeast-2.amazonaws.com"]
        );
    }

    #[test]
    fn services_without_private_dns() {
        let r = "us-east-1";
        for short in [
            "dynamodb",
            "dynamodb-streams",
            "console",
            "console-static",
            "signin",
        ] {
            let s = service(r, short);
            assert!(s.private_dns_names.is_empty(), "{short}");
            assert!(s.default_name_zones().is_empty(), "{short}");
            assert!(!s.private_dns_by_default, "{short}");
            // Still reachable by its vpce names.
            assert_eq!(
                s.base_endpoint_dns_names,
                [format!("{short}.us-east-1.vpce.amazonaws.com")]
            );
        }
        let without = services(&region(r))
            .iter()
            .filter(|s| s.private_dns_names.is_empty())
            .count();
        assert_eq!(without, 5);
    }

    #[test]
    fn every_service_has_ports_and_region_scoped_names() {
        for r in Region::all() {
            for s in services(&r) {
                assert!(!s.ports.is_empty(), "{}", s.service_name);
                assert!(s.ports.windows(2).all(|w| w[0] < w[1]));
                assert!(s.policy_supported);
                assert_eq!(s.region, r);
                assert!(s.private_dns_names.iter().all(|n| n.contains(r.name())));
            }
        }
    }

    #[test]
    fn private_dns_default_is_off_for_s3_and_services_without_it() {
        for s in services(&Region::default()) {
            assert_eq!(
                s.private_dns_by_default,
                s.short_name != "s3" && !s.private_dns_names.is_empty(),
                "{}",
                s.short_name
            );
        }
    }

    #[test]
    fn ports() {
        assert_eq!(service("us-east-1", "kms").ports, [443]);
        assert_eq!(service("us-east-1", "git-codecommit").ports, [22, 443]);
        assert_eq!(service("us-east-1", "codecommit").ports, [443]);
        assert_eq!(service("us-east-1", "elasticfilesystem").ports, [443]);
        assert_eq!(service("us-east-1", "cassandra").ports, [443, 9142]);
        assert_eq!(
            service("us-east-1", "email-smtp").ports,
            [25, 465, 587, 2465, 2587]
        );
        let datasync = &service("us-east-1", "datasync").ports;
        assert_eq!(datasync.len(), 42);
        assert_eq!(datasync[..2], [443, 1024]);
        assert_eq!(datasync.last(), Some(&1064));
    }

    #[test]
    fn default_name_zones() {
        assert_eq!(
            service("us-east-1", "s3").default_name_zones(),
            ["s3.us-east-1.amazonaws.com"]
        );
        assert_eq!(
            service("us-east-1", "notebook").default_name_zones(),
            ["notebook.us-east-1.sagemaker.aws"]
        );
        assert_eq!(
            service("us-east-1", "kinesis-streams").default_name_zones(),
            ["kinesis.us-east-1.amazonaws.com"]
        );
    }

    #[test]
    fn default_name_zones_are_distinct_within_a_region() {
        let mut zones: Vec<String> = services(&Region::default())
            .iter()
            .flat_map(CatalogService::default_name_zones)
            .collect();
        let total = zones.len();
        zones.sort();
        zones.dedup();
        assert_eq!(zones.len(), total);
    }

    #[test]
    fn wildcard_matching_follows_rfc_4592() {
        let s3 = service("us-east-1", "s3");
        assert!(s3.private_name_matches("bucket.s3.us-east-1.amazonaws.com"));
        assert!(s3.private_name_matches("a.b.s3.us-east-1.amazonaws.com"));
        assert!(s3.private_name_matches("Bucket.S3.US-East-1.amazonaws.com."));
        // The bare regional name is a private name of its own, not a wildcard match.
        assert!(s3.private_name_matches("s3.us-east-1.amazonaws.com"));
        assert!(!s3.private_name_matches(".s3.us-east-1.amazonaws.com"));
        assert!(!s3.private_name_matches("a..s3.us-east-1.amazonaws.com"));
        assert!(!s3.private_name_matches("bucket.s3.us-east-2.amazonaws.com"));
        assert!(!s3.private_name_matches("bucket-s3.us-east-1.amazonaws.com"));
        assert!(!s3.private_name_matches("xs3.us-east-1.amazonaws.com"));
        assert!(!s3.private_name_matches("amazonaws.com"));
        assert!(!s3.private_name_matches(""));

        let api = service("us-east-1", "execute-api");
        assert!(api.private_name_matches("abc123.execute-api.us-east-1.amazonaws.com"));
        assert!(!api.private_name_matches("execute-api.us-east-1.amazonaws.com"));
    }

    #[test]
    fn plain_names_match_exactly() {
        let kinesis = service("us-east-1", "kinesis-streams");
        assert!(kinesis.private_name_matches("kinesis.us-east-1.amazonaws.com"));
        assert!(kinesis.private_name_matches("KINESIS.us-east-1.amazonaws.com."));
        assert!(!kinesis.private_name_matches("x.kinesis.us-east-1.amazonaws.com"));
        assert!(!kinesis.private_name_matches("kinesis-streams.us-east-1.amazonaws.com"));
    }

    #[test]
    fn lookup_is_same_region_only() {
        let r = region("us-east-1");
        assert!(lookup(&r, "com.amazonaws.us-east-1.sqs").is_some());
        assert_eq!(lookup(&r, "com.amazonaws.us-west-2.sqs"), None);
        assert_eq!(lookup(&r, "com.amazonaws.us-east-1.nosuch"), None);
        assert_eq!(lookup(&r, "com.amazonaws.us-east-1."), None);
        assert_eq!(lookup(&r, "com.amazonaws.us-east-1sqs"), None);
        assert_eq!(lookup(&r, "com.amazonaws.us-east-11.sqs"), None);
        assert_eq!(
            lookup(
                &r,
                "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
            ),
            None
        );
        assert_eq!(lookup(&r, "sqs"), None);
        assert_eq!(lookup(&r, ""), None);
    }

    #[test]
    fn lookup_agrees_with_services() {
        for r in Region::all() {
            for s in services(&r) {
                assert_eq!(lookup(&r, &s.service_name), Some(s));
                for name in &s.private_dns_names {
                    let asked = name.replace('*', "x");
                    assert_eq!(by_private_name(&r, &asked), Some(s), "{asked}");
                }
            }
        }
    }

    #[test]
    fn by_private_name_follows_rfc_4592_and_ignores_case() {
        let r = region("us-east-1");
        let short = |name: &str| by_private_name(&r, name).map(|s| s.short_name);
        assert_eq!(short("s3.us-east-1.amazonaws.com"), Some("s3"));
        assert_eq!(short("Bucket.S3.us-east-1.amazonaws.com."), Some("s3"));
        assert_eq!(short("a.b.s3.us-east-1.amazonaws.com"), Some("s3"));
        assert_eq!(
            short("firehose.us-east-1.amazonaws.com"),
            Some("kinesis-firehose")
        );
        assert_eq!(short("kinesis-firehose.us-east-1.amazonaws.com"), None);
        assert_eq!(
            short("abc.dkr.ecr.us-east-1.amazonaws.com"),
            Some("ecr.dkr")
        );
        assert_eq!(short("dkr.ecr.us-east-1.amazonaws.com"), None);
        assert_eq!(short("api.ecr.us-east-1.amazonaws.com"), Some("ecr.api"));
        assert_eq!(short("x.lambda.us-east-1.amazonaws.com"), None);
        assert_eq!(short("execute-api.us-east-1.amazonaws.com"), None);
        assert_eq!(short("a..s3.us-east-1.amazonaws.com"), None);
        assert_eq!(short("dynamodb.us-east-1.amazonaws.com"), None);
        assert_eq!(short("lambda.us-west-2.amazonaws.com"), None);
        assert_eq!(short(""), None);
        assert_eq!(short("."), None);
    }

    #[test]
    fn search_is_case_insensitive_on_service_and_dns_names() {
        let r = region("us-east-1");
        let shorts =
            |text: &str| -> Vec<&str> { search(&r, text).iter().map(|s| s.short_name).collect() };
        assert_eq!(shorts("LAMBDA"), ["lambda"]);
        // The Firehose row matches on its DNS name as well as on its service name.
        assert_eq!(shorts("firehose"), ["kinesis-firehose"]);
        assert_eq!(shorts("firehose.us-east-1"), ["kinesis-firehose"]);
        assert_eq!(shorts("ecr."), ["ecr.api", "ecr.dkr"]);
        assert_eq!(shorts("sagemaker.aws"), ["notebook"]);
        assert!(shorts("no-such-service").is_empty());
        assert_eq!(search(&r, "").len(), services(&r).len());
        // In catalog (short name) order.
        let dynamo = shorts("dynamodb");
        assert_eq!(dynamo, ["dynamodb", "dynamodb-streams"]);
    }

    #[test]
    fn built_once_per_region() {
        let r = region("eu-west-1");
        assert!(std::ptr::eq(services(&r), services(&r)));
        let a = lookup(&r, "com.amazonaws.eu-west-1.sqs").expect("sqs");
        let b = lookup(&r, "com.amazonaws.eu-west-1.sqs").expect("sqs");
        assert!(std::ptr::eq(a, b));
    }

    #[test]
    fn other_region_services() {
        let r = region("us-east-1");
        assert!(is_other_region_service(&r, "com.amazonaws.us-west-2.sqs"));
        assert!(is_other_region_service(
            &r,
            "com.amazonaws.eu-central-1.ecr.dkr"
        ));
        assert!(!is_other_region_service(&r, "com.amazonaws.us-east-1.sqs"));
        assert!(!is_other_region_service(
            &r,
            "com.amazonaws.us-west-2.nosuch"
        ));
        assert!(!is_other_region_service(&r, "com.amazonaws.mars-1.sqs"));
        assert!(!is_other_region_service(
            &r,
            "com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0"
        ));
        assert!(!is_other_region_service(&r, "org.example.us-west-2.sqs"));
    }

    fn is_public(ip: Ipv4Addr) -> bool {
        let [a, b, ..] = ip.octets();
        !(ip.is_private()
            || ip.is_loopback()
            || ip.is_link_local()
            || ip.is_broadcast()
            || ip.is_documentation()
            || ip.is_unspecified()
            || ip.is_multicast()
            || a == 0
            || a >= 240
            || (a == 100 && (64..128).contains(&b))
            || (a == 198 && (18..20).contains(&b))
            || (a == 192 && b == 0))
    }

    #[test]
    fn public_addresses_are_public_unique_and_in_aws_blocks() {
        for r in Region::all() {
            let mut seen = BTreeSet::new();
            for s in services(&r) {
                assert!(
                    (2..=3).contains(&s.public_addresses.len()),
                    "{}",
                    s.service_name
                );
                for ip in &s.public_addresses {
                    assert!(is_public(*ip), "{ip}");
                    let [a, b, _, d] = ip.octets();
                    assert!(addresses::PUBLIC_BLOCKS.contains(&[a, b]), "{ip}");
                    assert!(d != 0 && d != 255, "{ip}");
                    assert!(seen.insert(*ip), "{ip} twice in {r}");
                }
            }
        }
    }

    #[test]
    fn public_addresses_are_deterministic() {
        let r = region("eu-central-1");
        assert_eq!(build_region(&r).services, build_region(&r).services);
        // Pinned: a change to the derivation changes every scenario's output.
        assert_eq!(
            service("us-east-1", "sqs").public_addresses,
            [
                Ipv4Addr::new(3, 5, 70, 156),
                Ipv4Addr::new(52, 119, 144, 189)
            ]
        );
        // Region-dependent: the same service differs across Regions.
        let a = &service("us-east-1", "sts").public_addresses;
        let b = &service("us-west-2", "sts").public_addresses;
        assert_ne!(a, b);
    }
}
