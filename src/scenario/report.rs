//! Run reports: one line per step for people, JSON for programs, JUnit XML for CI systems.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::runner::StepOutcome;

/// How one file went.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file.
    pub file: PathBuf,
    /// The scenario's `name` (empty when it did not load).
    pub name: String,
    /// Whether it loaded.
    pub loaded: bool,
    /// Why it did not load.
    pub error: Option<String>,
    /// Each step's outcome.
    pub steps: Vec<StepReport>,
}

/// One step in a report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// From 1.
    pub index: usize,
    /// The action key.
    pub action: String,
    /// Whether it passed.
    pub passed: bool,
    /// What happened (and on failure, what was expected).
    pub message: String,
}

impl From<StepOutcome> for StepReport {
    fn from(o: StepOutcome) -> Self {
        Self {
            index: o.index,
            action: o.action.to_string(),
            passed: o.passed,
            message: o.message,
        }
    }
}

impl FileReport {
    /// Steps that passed.
    pub fn passed(&self) -> usize {
        self.steps.iter().filter(|s| s.passed).count()
    }

    /// Steps that failed; a file that did not load counts as one failure.
    pub fn failed(&self) -> usize {
        if self.loaded {
            self.steps.len() - self.passed()
        } else {
            1
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Each file, in the order run.
    pub files: Vec<FileReport>,
    /// Steps passed in all.
    pub passed: usize,
    /// Steps failed in all, plus files that did not load.
    pub failed: usize,
}

impl RunReport {
    /// A report over `files`.
    pub fn new(files: Vec<FileReport>) -> Self {
        let passed = files.iter().map(FileReport::passed).sum();
        let failed = files.iter().map(FileReport::failed).sum();
        Self {
            files,
            passed,
            failed,
        }
    }

    /// One line per step, a summary per file and one for the run.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for file in &self.files {
            let _ = writeln!(out, "{} ({})", file.file.display(), file.name);
            if let Some(error) = &file.error {
                let _ = writeln!(out, "  LOAD ERROR {error}");
            }
            for step in &file.steps {
                let status = if step.passed { "PASS" } else { "FAIL" };
                if step.passed {
                    let _ = writeln!(out, "  {status} {:>3} {}", step.index, step.action);
                } else {
                    let _ = writeln!(
                        out,
                        "  {status} {:>3} {}: {}",
                        step.index, step.action, step.message
                    );
                }
            }
            let _ = writeln!(out, "  {} passed, {} failed", file.passed(), file.failed());
        }
        let _ = writeln!(out, "{} passed, {} failed", self.passed, self.failed);
        out
    }

    /// `{"files": [...], "passed", "failed"}`.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// JUnit XML: a test suite per file, a test case per step.
    pub fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let total: usize = self
            .files
            .iter()
            .map(|f| f.steps.len().max(usize::from(!f.loaded)))
            .sum();
        let _ = writeln!(
            out,
            "<testsuites name=\"vpcesim\" tests=\"{total}\" failures=\"{}\">",
            self.failed
        );
        for file in &self.files {
            let name = xml_escape(&file.file.display().to_string());
            let tests = file.steps.len().max(usize::from(!file.loaded));
            let _ = writeln!(
                out,
                "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{}\">",
                file.failed()
            );
            if let Some(error) = &file.error {
                let _ = writeln!(out, "    <testcase classname=\"{name}\" name=\"load\">");
                let _ = writeln!(out, "      <failure message=\"{}\"/>", xml_escape(error));
                let _ = writeln!(out, "    </testcase>");
            }
            for step in &file.steps {
                let case = xml_escape(&format!("{} {}", step.index, step.action));
                if step.passed {
                    let _ = writeln!(out, "    <testcase classname=\"{name}\" name=\"{case}\"/>");
                } else {
                    let _ = writeln!(out, "    <testcase classname=\"{name}\" name=\"{case}\">");
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\"/>",
                        xml_escape(&step.message)
                    );
                    let _ = writeln!(out, "    </testcase>");
                }
            }
            let _ = writeln!(out, "  </testsuite>");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\n', "&#10;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunReport {
        RunReport::new(vec![
            FileReport {
                file: "a.toml".into(),
                name: "a".into(),
                loaded: true,
                error: None,
                steps: vec![
                    StepReport {
                        index: 1,
                        action: "resolve".into(),
                        passed: true,
                        message: "ok".into(),
                    },
                    StepReport {
                        index: 2,
                        action: "connect".into(),
                        passed: false,
                        message: "expected connected, got timeout <&>".into(),
                    },
                ],
            },
            FileReport {
                file: "b.toml".into(),
                name: String::new(),
                loaded: false,
                error: Some("b.toml:1:1: bad".into()),
                steps: vec![],
            },
        ])
    }

    #[test]
    fn counts_a_load_error_as_one_failure() {
        let r = sample();
        assert_eq!((r.passed, r.failed), (1, 2));
        let text = r.text();
        assert!(text.contains("  PASS   1 resolve\n"));
        assert!(text.contains("  FAIL   2 connect: expected connected, got timeout"));
        assert!(text.ends_with("1 passed, 2 failed\n"), "{text}");
    }

    #[test]
    fn json_and_junit_shapes() {
        let r = sample();
        let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(json["passed"], 1);
        assert_eq!(json["files"][0]["steps"][1]["passed"], false);
        assert_eq!(json["files"][1]["loaded"], false);
        assert_eq!(json["files"][1]["error"], "b.toml:1:1: bad");
        let xml = r.junit();
        assert!(
            xml.contains("<testsuites name=\"vpcesim\" tests=\"3\" failures=\"2\">"),
            "{xml}"
        );
        assert!(xml.contains("&lt;&amp;&gt;"));
    }
}
