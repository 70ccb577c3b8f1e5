//! Run reports: one line per step for people, JSON for programs, JUnit XML for CI systems.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::LoadError;
use super::runner::StepOutcome;

/// How one file went.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file.
    pub file: PathBuf,
    /// The scenario's `name`; none when the file did not load.
    pub name: Option<String>,
    /// Whether it loaded.
    pub loaded: bool,
    /// Why it did not load: every problem, as `{file, line, column, message}`.
    pub errors: Option<LoadError>,
    /// Each step's outcome.
    pub steps: Vec<StepReport>,
}

/// One step in a report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// From 1.
    pub index: usize,
    /// The step's line in its file.
    pub line: usize,
    /// The step's `name`, if it has one.
    pub name: Option<String>,
    /// The action key.
    pub action: String,
    /// Whether it passed.
    pub passed: bool,
    /// What the step observed.
    pub observed: String,
    /// Each expectation that did not hold (empty when it passed).
    pub failures: Vec<String>,
    /// The failures and what was observed, in one line.
    pub message: String,
}

impl From<StepOutcome> for StepReport {
    fn from(o: StepOutcome) -> Self {
        let message = o.message();
        Self {
            index: o.index,
            line: o.line,
            name: o.name,
            action: o.action.to_string(),
            passed: o.passed,
            observed: o.observed,
            failures: o.failures,
            message,
        }
    }
}

impl StepReport {
    /// `3 connect` or, for a named step, `3 connect "web reaches kinesis"`.
    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{:>3} {} \"{name}\"", self.index, self.action),
            None => format!("{:>3} {}", self.index, self.action),
        }
    }
}

impl FileReport {
    /// A file whose steps ran.
    pub fn ran(file: PathBuf, name: String, outcomes: Vec<StepOutcome>) -> Self {
        Self {
            file,
            name: Some(name),
            loaded: true,
            errors: None,
            steps: outcomes.into_iter().map(Into::into).collect(),
        }
    }

    /// A file that did not load.
    pub fn not_loaded(file: PathBuf, error: LoadError) -> Self {
        Self {
            file,
            name: None,
            loaded: false,
            errors: Some(error),
            steps: Vec::new(),
        }
    }

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

    /// One line per step, a summary per file and one for the run. A FAIL line says
    /// what was expected and what was observed, once; `verbose` adds what was
    /// observed to every PASS line too.
    pub fn text(&self, verbose: bool) -> String {
        let mut out = String::new();
        for file in &self.files {
            match (&file.name, &file.errors) {
                (Some(name), _) => {
                    let _ = writeln!(out, "{} ({name})", file.file.display());
                }
                (None, _) => {
                    let _ = writeln!(out, "{}: did not load", file.file.display());
                }
            }
            if let Some(errors) = &file.errors {
                for line in errors.render().lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
            for step in &file.steps {
                let label = step.label();
                if !step.passed {
                    let _ = writeln!(out, "  FAIL {label}: {}", step.message);
                } else if verbose && !step.observed.is_empty() {
                    let _ = writeln!(out, "  PASS {label}: {}", step.observed);
                } else {
                    let _ = writeln!(out, "  PASS {label}");
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

    /// JUnit XML: a test suite per file, a test case per step, named by its index,
    /// action and `name`, with the file and line where the step is written.
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
            let path = xml_escape(&file.file.display().to_string());
            let tests = file.steps.len().max(usize::from(!file.loaded));
            let _ = writeln!(
                out,
                "  <testsuite name=\"{path}\" tests=\"{tests}\" failures=\"{}\">",
                file.failed()
            );
            if let Some(errors) = &file.errors {
                let line = errors.first().line;
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"{path}\" name=\"load\" file=\"{path}\" line=\"{line}\">"
                );
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\"/>",
                    xml_escape(&errors.to_string())
                );
                let _ = writeln!(out, "    </testcase>");
            }
            for step in &file.steps {
                let case = match &step.name {
                    Some(name) => format!("{} {}: {name}", step.index, step.action),
                    None => format!("{} {}", step.index, step.action),
                };
                let open = format!(
                    "<testcase classname=\"{path}\" name=\"{}\" file=\"{path}\" line=\"{}\"",
                    xml_escape(&case),
                    step.line
                );
                if step.passed {
                    let _ = writeln!(out, "    {open}/>");
                } else {
                    let _ = writeln!(out, "    {open}>");
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
    use std::path::Path;

    use super::*;
    use crate::scenario::Diagnostic;

    fn step(index: usize, name: Option<&str>, passed: bool) -> StepReport {
        let outcome = StepOutcome {
            index,
            line: 10 * index,
            name: name.map(str::to_string),
            action: if passed { "resolve" } else { "connect" },
            passed,
            observed: if passed {
                "x.example A: NOERROR [10.0.1.4] ttl 60".into()
            } else {
                "timeout (10.0.1.4:443): blocked by <&>".into()
            },
            failures: if passed {
                vec![]
            } else {
                vec!["expected outcome connected".into()]
            },
        };
        outcome.into()
    }

    fn sample() -> RunReport {
        let bad = Path::new("b.toml");
        RunReport::new(vec![
            FileReport {
                file: "a.toml".into(),
                name: Some("a".into()),
                loaded: true,
                errors: None,
                steps: vec![
                    step(1, Some("private name answers"), true),
                    step(2, None, false),
                ],
            },
            FileReport::not_loaded(
                bad.into(),
                LoadError::new(bad, "x\n", vec![Diagnostic::at(bad, "x\n", 0..1, "bad")]),
            ),
        ])
    }

    #[test]
    fn counts_a_load_error_as_one_failure_and_names_no_empty_scenario() {
        let r = sample();
        assert_eq!((r.passed, r.failed), (1, 2));
        let text = r.text(false);
        assert!(
            text.contains("  PASS   1 resolve \"private name answers\"\n"),
            "{text}"
        );
        assert!(
            text.contains("  FAIL   2 connect: expected outcome connected; observed: timeout (10.0.1.4:443): blocked by <&>\n"),
            "{text}"
        );
        assert_eq!(text.matches("blocked by").count(), 1, "said once: {text}");
        assert!(
            text.contains("b.toml: did not load\n  b.toml:1:1: bad\n"),
            "{text}"
        );
        assert!(!text.contains("()"), "{text}");
        assert!(text.ends_with("1 passed, 2 failed\n"), "{text}");
        let verbose = r.text(true);
        assert!(
            verbose.contains("  PASS   1 resolve \"private name answers\": x.example A: NOERROR [10.0.1.4] ttl 60\n"),
            "{verbose}"
        );
    }

    #[test]
    fn json_and_junit_carry_names_and_lines() {
        let r = sample();
        let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(json["passed"], 1);
        let first = &json["files"][0]["steps"][0];
        assert_eq!(first["name"], "private name answers");
        assert_eq!(first["line"], 10);
        assert_eq!(json["files"][0]["steps"][1]["passed"], false);
        assert_eq!(
            json["files"][0]["steps"][1]["name"],
            serde_json::Value::Null
        );
        assert_eq!(json["files"][1]["loaded"], false);
        assert_eq!(json["files"][1]["errors"][0]["message"], "bad");
        assert_eq!(json["files"][1]["errors"][0]["line"], 1);
        let xml = r.junit();
        assert!(
            xml.contains("<testsuites name=\"vpcesim\" tests=\"3\" failures=\"2\">"),
            "{xml}"
        );
        assert!(
            xml.contains("name=\"1 resolve: private name answers\" file=\"a.toml\" line=\"10\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("name=\"2 connect\" file=\"a.toml\" line=\"20\">"),
            "{xml}"
        );
        assert!(xml.contains("&lt;&amp;&gt;"));
    }
}
