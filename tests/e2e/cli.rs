//! `vpcesim check`, `services` and `describe` as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vpcesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vpcesim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run vpcesim")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn write_temp(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write scenario");
    path
}

#[test]
fn check_accepts_every_public_scenario() {
    let out = vpcesim(&["check", "scenarios/"]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let files = text.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(files >= 12, "at least 12 public scenarios, found {files}");
    assert!(text.contains(", 0 with errors"), "{text}");
}

#[test]
fn check_reports_file_line_column_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_temp(
        dir.path(),
        "bad.toml",
        "name = \"x\"\n[vpcs.main]\ncidr = \"10.0.0.0/16\"\n[subnets.a]\nvpc = \"main\"\ncidr = \"10.1.0.0/24\"\naz = \"us-east-1a\"\n",
    );
    let good = write_temp(
        dir.path(),
        "good.toml",
        "name = \"y\"\n[vpcs.main]\ncidr = \"10.0.0.0/16\"\n",
    );
    let out = vpcesim(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let expected = format!(
        "{}:6:8: subnet `10.1.0.0/24` is outside its VPC `main` (10.0.0.0/16)",
        bad.display()
    );
    assert!(text.contains(&expected), "{text}");
    assert!(
        text.contains(&format!("ok    {}", good.display())),
        "{text}"
    );
    assert!(text.contains("2 files: 1 ok, 1 with errors"), "{text}");

    let missing = vpcesim(&["check", "no/such/file.toml"]);
    assert_eq!(
        missing.status.code(),
        Some(2),
        "a missing path is a usage error"
    );
}

#[test]
fn check_survives_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("garbage.toml"), garbage).unwrap();
    write_temp(dir.path(), "empty.toml", "");
    let out = vpcesim(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("garbage.toml"), "{text}");
    assert!(
        text.contains("empty.toml:1:1: missing field `name`"),
        "{text}"
    );
}

#[test]
fn services_json_lists_the_whole_catalog_with_service_detail_fields() {
    let out = vpcesim(&["services", "--format", "json", "--region", "eu-west-1"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().expect("a JSON list");
    let region = vpcesim::model::Region::parse("eu-west-1").unwrap();
    let catalog = vpcesim::catalog::services(&region);
    assert!(catalog.len() >= 150);
    assert_eq!(list.len(), catalog.len());
    for (detail, service) in list.iter().zip(catalog) {
        assert_eq!(detail["ServiceName"], service.service_name.as_str());
        for key in [
            "ServiceName",
            "ServiceId",
            "ServiceType",
            "AvailabilityZones",
            "Owner",
            "BaseEndpointDnsNames",
            "AcceptanceRequired",
            "VpcEndpointPolicySupported",
        ] {
            assert!(detail.get(key).is_some(), "{key} missing in {detail}");
        }
        // Services without private DNS support have no PrivateDnsName, as in EC2.
        assert_eq!(
            detail.get("PrivateDnsName").is_some(),
            !service.private_dns_names.is_empty(),
            "{detail}"
        );
        assert_eq!(detail["Owner"], "amazon");
        assert_eq!(detail["AvailabilityZones"][0], "eu-west-1a");
    }
    let kinesis = list
        .iter()
        .find(|d| d["ServiceName"] == "com.amazonaws.eu-west-1.kinesis-streams")
        .unwrap();
    assert_eq!(kinesis["PrivateDnsName"], "kinesis.eu-west-1.amazonaws.com");
    let bad = vpcesim(&["services", "--region", "moon-1"]);
    assert!(!bad.status.success());
}

#[test]
fn services_search_filters_on_service_and_dns_names_ignoring_case() {
    let out = vpcesim(&["services", "--search", "FireHose", "--region", "eu-west-1"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("com.amazonaws.eu-west-1.kinesis-firehose "),
        "{text}"
    );
    assert!(
        lines[0].contains(" firehose.eu-west-1.amazonaws.com "),
        "{text}"
    );
    assert_eq!(lines[1], "1 service matching `FireHose`");

    // A DNS name matches too: the ECR Docker wildcard.
    let out = vpcesim(&["services", "--search", "dkr.ecr", "--format", "json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .expect("a JSON list")
        .iter()
        .map(|d| d["ServiceName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["com.amazonaws.us-east-1.ecr.dkr"]);
    assert_eq!(
        list[0]["PrivateDnsName"],
        "*.dkr.ecr.us-east-1.amazonaws.com"
    );

    // A service without private DNS says so, and no match is an empty list.
    let text = stdout(&vpcesim(&["services", "--search", "dynamodb-streams"]));
    assert!(text.contains("(no private DNS)"), "{text}");
    let none = vpcesim(&["services", "--search", "no-such-service"]);
    assert!(none.status.success());
    assert_eq!(stdout(&none), "0 services matching `no-such-service`\n");
}

#[test]
fn describe_prints_the_cli_shape() {
    let out = vpcesim(&[
        "describe",
        "scenarios/kinesis-private-dns.toml",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let endpoints = json["VpcEndpoints"].as_array().unwrap();
    assert!(!endpoints.is_empty());
    for ep in endpoints {
        assert!(ep["VpcEndpointId"].as_str().unwrap().starts_with("vpce-"));
        assert_eq!(ep["VpcEndpointType"], "Interface");
        assert!(
            ep["DnsEntries"][0]["DnsName"]
                .as_str()
                .unwrap()
                .ends_with(".vpce.amazonaws.com")
        );
    }
    // The same file describes identically twice: IDs and addresses are deterministic.
    let again = vpcesim(&[
        "describe",
        "scenarios/kinesis-private-dns.toml",
        "--format",
        "json",
    ]);
    assert_eq!(out.stdout, again.stdout);
}

const RUNNABLE: &str = r#"name = "run-cli"
[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true
[subnets.a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
[security_groups.ep]
vpc = "main"
ingress = [{ proto = "tcp", ports = 443, cidr = "10.0.0.0/16" }]
[instances.web]
subnet = "a"
[endpoints.sts]
vpc = "main"
service = "com.amazonaws.us-east-1.sts"
subnets = ["a"]
security_groups = ["ep"]

[[steps]]
resolve = "sts.us-east-1.amazonaws.com"
from = "web"
expect = { answers = "endpoint:sts", ttl = 60 }

[[steps]]
connect = "sts.us-east-1.amazonaws.com:80"
from = "web"
expect = { outcome = "connected" }
"#;

#[test]
fn run_reports_each_step_and_exits_1_on_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(dir.path(), "s.toml", RUNNABLE);
    write_temp(dir.path(), "broken.toml", "name = 3\n");
    let out = vpcesim(&["run", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("PASS   1 resolve"), "{text}");
    // Port 80 is not open in the endpoint's security group: blocked, and it says why.
    let fail = text
        .lines()
        .find(|l| l.contains("FAIL   2 connect"))
        .expect("step 2 fails");
    assert!(
        fail.contains("expected outcome connected; observed: timeout"),
        "{fail}"
    );
    assert!(fail.contains("security group"), "{fail}");
    assert!(text.contains("broken.toml:1:8"), "{text}");
    assert!(text.trim_end().ends_with("1 passed, 2 failed"), "{text}");

    let json_out = vpcesim(&["run", file.to_str().unwrap(), "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(json["passed"], 1);
    assert_eq!(json["failed"], 1);
    assert_eq!(json["files"][0]["name"], "run-cli");
    assert_eq!(json["files"][0]["loaded"], true);
    assert_eq!(json["files"][0]["steps"][1]["action"], "connect");
    assert_eq!(json["files"][0]["steps"][1]["passed"], false);

    let xml_path = dir.path().join("report.xml");
    let junit = vpcesim(&[
        "run",
        file.to_str().unwrap(),
        "--format",
        "junit",
        "--output",
        xml_path.to_str().unwrap(),
    ]);
    assert_eq!(junit.status.code(), Some(1));
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(
        xml.contains("<testsuites name=\"vpcesim\" tests=\"2\" failures=\"1\">"),
        "{xml}"
    );
    assert!(stdout(&junit).contains("1 passed, 1 failed"));
}

#[test]
fn run_passes_a_green_file_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let green = RUNNABLE.replace(
        "sts.us-east-1.amazonaws.com:80",
        "sts.us-east-1.amazonaws.com:443",
    );
    let file = write_temp(dir.path(), "green.toml", &green);
    let out = vpcesim(&["run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).trim_end().ends_with("2 passed, 0 failed"));
}

/// A file with four independent problems, on lines 6, 9, 12 and 17.
const FOUR_PROBLEMS: &str = r#"name = "four"
[vpcs.main]
cidr = "10.0.0.0/16"
[subnets.a]
vpc = "main"
cidr = "10.1.0.0/24"
az = "us-east-1a"
[vpcs.multicast]
cidr = "224.0.0.0/16"
[security_groups.g]
vpc = "main"
ingress = [ { proto = "all", ports = 443, cidr = "10.0.0.0/16" } ]
[[steps]]
wait = "1s"
[[steps]]
connect = "10.0.1.4:443"
from = "nobody"
expect = { outcome = "connected" }
"#;

#[test]
fn check_shows_every_problem_with_its_line_and_a_caret() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_temp(dir.path(), "four.toml", FOUR_PROBLEMS);
    let out = vpcesim(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let shown = bad.display();
    for (line, column, needle, source_line) in [
        (6, 8, "is outside its VPC", "cidr = \"10.1.0.0/24\""),
        (9, 8, "224.0.0.0/4 (multicast", "cidr = \"224.0.0.0/16\""),
        (
            12,
            38,
            "`ports` does not apply to a `all` rule",
            "ingress = [ {",
        ),
        (
            17,
            8,
            "unknown instance or on-premises host `nobody`",
            "from = \"nobody\"",
        ),
    ] {
        let header = format!("{shown}:{line}:{column}: ");
        let at = text
            .lines()
            .position(|l| l.starts_with(&header) && l.contains(needle))
            .unwrap_or_else(|| panic!("no `{header}...{needle}` in:\n{text}"));
        // Below it: the locus, then the source line, then a caret under the column.
        let rest: Vec<&str> = text.lines().skip(at + 1).take(5).collect();
        let source = rest
            .iter()
            .position(|l| l.contains(source_line) && l.contains(&format!("{line} |")))
            .unwrap_or_else(|| panic!("no source line {line} after {header}:\n{text}"));
        let caret_line = rest[source + 1];
        let bar = rest[source].find('|').unwrap();
        let caret = caret_line.find('^').expect("a caret");
        assert_eq!(
            caret - bar - 2,
            column - 1,
            "caret under column {column}:\n{text}"
        );
    }
    assert!(text.contains("1 files: 0 ok, 1 with errors"), "{text}");
}

#[test]
fn check_json_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_temp(dir.path(), "four.toml", FOUR_PROBLEMS);
    let out = vpcesim(&["check", "--format", "json", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let list = list.as_array().expect("a list");
    let lines: Vec<u64> = list.iter().map(|p| p["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [6, 9, 12, 17], "{list:?}");
    for problem in list {
        assert_eq!(problem["file"], bad.to_str().unwrap());
        assert!(problem["column"].as_u64().unwrap() >= 1);
        assert!(!problem["message"].as_str().unwrap().is_empty());
    }
    let good = vpcesim(&["check", "--format", "json", "scenarios/"]);
    assert!(good.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&good.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn a_path_without_scenarios_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["check", "run"] {
        let out = vpcesim(&[command, dir.path().to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stdout(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no scenario files (*.toml)"),
            "{command}: {err}"
        );
        assert!(!stdout(&out).contains("0 passed, 0 failed"), "{command}");
    }
}

#[test]
fn a_missing_file_is_reported_and_the_others_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_temp(
        dir.path(),
        "good.toml",
        "name = \"y\"\n[vpcs.main]\ncidr = \"10.0.0.0/16\"\n[[steps]]\nwait = \"1s\"\n",
    );
    let missing = dir.path().join("missing.toml");
    for command in ["check", "run"] {
        let out = vpcesim(&[command, missing.to_str().unwrap(), good.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{}: no such file or directory", missing.display())),
            "{command}: {err}"
        );
        let text = stdout(&out);
        assert!(
            text.contains(&good.display().to_string()),
            "{command}: {text}"
        );
    }
    let run = stdout(&vpcesim(&[
        "run",
        missing.to_str().unwrap(),
        good.to_str().unwrap(),
    ]));
    assert!(run.contains("  PASS   1 wait"), "{run}");
}

#[test]
fn run_reports_every_load_problem_and_no_empty_name() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_temp(dir.path(), "four.toml", FOUR_PROBLEMS);
    let out = vpcesim(&["run", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{}: did not load", bad.display())),
        "{text}"
    );
    assert!(!text.contains("()"), "{text}");
    for line in [6, 9, 12, 17] {
        assert!(
            text.contains(&format!("{}:{line}:", bad.display())),
            "{text}"
        );
    }
    assert!(text.contains("^"), "{text}");
}

/// A scenario with named steps, one of which fails.
const NAMED: &str = r#"name = "named"
[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true
[subnets.a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
[instances.web]
subnet = "a"
[endpoints.sts]
vpc = "main"
service = "com.amazonaws.us-east-1.sts"
subnets = ["a"]
[[steps]]
name = "the private name answers"
resolve = "sts.us-east-1.amazonaws.com"
from = "web"
expect = { rcode = "NOERROR", answers = "endpoint:sts" }
[[steps]]
name = "a wrong port times out"
connect = "sts.us-east-1.amazonaws.com:80"
from = "web"
expect = { outcome = "connected" }
[[steps]]
transfer = "sts.us-east-1.amazonaws.com:443"
from = "web"
bytes = "10MB"
expect = { outcome = "completed" }
"#;

#[test]
fn run_verbose_shows_what_every_step_observed() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(dir.path(), "named.toml", NAMED);
    let quiet = stdout(&vpcesim(&["run", file.to_str().unwrap()]));
    assert!(
        quiet.contains("  PASS   1 resolve \"the private name answers\"\n"),
        "{quiet}"
    );
    let out = vpcesim(&["run", "-v", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"))
            .to_string()
    };
    let resolve = line("  PASS   1 resolve \"the private name answers\": ");
    assert!(
        resolve.contains("sts.us-east-1.amazonaws.com A: NOERROR [10.0.1.5] ttl 60"),
        "{resolve}"
    );
    let connect = line("  FAIL   2 connect \"a wrong port times out\": ");
    assert!(
        connect.contains("expected outcome connected; observed: timeout (10.0.1.5:80): blocked by"),
        "{connect}"
    );
    assert_eq!(connect.matches("blocked by").count(), 1, "{connect}");
    let transfer = line("  PASS   3 transfer: ");
    assert!(
        transfer.contains("completed (10.0.1.5:443: 10000000 bytes in"),
        "{transfer}"
    );
    assert!(transfer.contains("Gbit/s"), "{transfer}");
}

#[test]
fn reports_carry_step_names_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(dir.path(), "named.toml", NAMED);
    let junit = vpcesim(&["run", "--format", "junit", file.to_str().unwrap()]);
    let xml = stdout(&junit);
    let path = file.display();
    assert!(
        xml.contains(&format!(
            "name=\"1 resolve: the private name answers\" file=\"{path}\" line=\"15\"/>"
        )),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "name=\"2 connect: a wrong port times out\" file=\"{path}\" line=\"20\">"
        )),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "name=\"3 transfer\" file=\"{path}\" line=\"25\"/>"
        )),
        "{xml}"
    );
    let json = vpcesim(&["run", "--format", "json", file.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let steps = &report["files"][0]["steps"];
    assert_eq!(steps[0]["name"], "the private name answers");
    assert_eq!(steps[0]["line"], 15);
    assert_eq!(steps[1]["failures"][0], "expected outcome connected");
    assert!(steps[2]["name"].is_null());
}

#[test]
fn help_documents_the_exit_codes() {
    for command in ["check", "run"] {
        let help = stdout(&vpcesim(&[command, "--help"]));
        for needle in ["Exit status", "0 ", "1 ", "2 "] {
            assert!(
                help.contains(needle),
                "{command} --help lacks `{needle}`:\n{help}"
            );
        }
    }
}

#[test]
fn the_documented_check_output_is_real() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenario-format.md"),
    )
    .unwrap();
    let intro = "`vpcesim check docs/examples/check-errors.toml` prints (and exits 1):\n\n```\n";
    let start = doc.find(intro).expect("the sample in the docs") + intro.len();
    let documented = &doc[start..start + doc[start..].find("```").unwrap()];
    let out = vpcesim(&["check", "docs/examples/check-errors.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), documented);
}
