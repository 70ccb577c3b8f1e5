//! Scenario loader input: TOML text through the loader that `vpcesim check` uses.
//!
//! Properties:
//! - nothing panics, in loading or in compiling the DNS and policy snapshots of a
//!   scenario that loaded (what `run` and `serve` do next);
//! - a scenario that does not load has at least one problem, and each problem points
//!   into the text: a line and column (1-based) that exist in it, a message that is
//!   not empty, and `file:line:column: message` as its display.

use std::path::Path;

use vpcesim::dns::DnsSnapshot;
use vpcesim::policy::PolicySnapshot;
use vpcesim::scenario::Diagnostic;

/// The file name errors are reported against.
pub const FILE: &str = "fuzz.toml";

/// Loads `input` (when it is UTF-8, as `check` requires) and checks every property.
pub fn check(input: &[u8]) {
    let Ok(source) = std::str::from_utf8(input) else {
        return;
    };
    match vpcesim::scenario::parse(Path::new(FILE), source) {
        Ok(scenario) => {
            let _ = DnsSnapshot::compile(&scenario.control);
            let _ = PolicySnapshot::compile(scenario.control.topology());
        }
        Err(error) => {
            assert!(
                !error.diagnostics.is_empty(),
                "a load error without problems; source: {source:?}"
            );
            for diagnostic in &error.diagnostics {
                if let Err(problem) = check_error(source, diagnostic) {
                    panic!("{problem}\nerror: {diagnostic:?}\nsource: {source:?}");
                }
            }
        }
    }
}

/// Checks that `error` points at a place in `source`; says what is wrong.
pub fn check_error(source: &str, error: &Diagnostic) -> Result<(), String> {
    if error.message.trim().is_empty() {
        return Err("an error with no message".into());
    }
    if error.line == 0 || error.column == 0 {
        return Err("an error with no line and column".into());
    }
    let lines: Vec<&str> = source.split('\n').collect();
    let Some(line) = lines.get(error.line - 1) else {
        return Err(format!(
            "line {} of a text with {} lines",
            error.line,
            lines.len()
        ));
    };
    let width = line.chars().count();
    if error.column > width + 1 {
        return Err(format!(
            "column {} of line {} that has {width} characters",
            error.column, error.line
        ));
    }
    let shown = error.to_string();
    let prefix = format!("{FILE}:{}:{}: ", error.line, error.column);
    if !shown.starts_with(&prefix) {
        return Err(format!("displayed as {shown:?}, not {prefix}..."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_must_exist_in_the_text() {
        let source = "a = 1\nbb = 2";
        let at = |line: usize, column: usize| {
            let mut d = Diagnostic::at(std::path::Path::new(FILE), source, 0..1, "bad");
            d.line = line;
            d.column = column;
            d
        };
        assert!(check_error(source, &at(2, 3)).is_ok());
        assert!(check_error(source, &at(2, 7)).is_ok());
        assert!(check_error(source, &at(2, 8)).is_err());
        assert!(check_error(source, &at(3, 1)).is_err());
        assert!(check_error(source, &at(0, 0)).is_err());
    }

    #[test]
    fn a_broken_scenario_gets_a_positioned_error() {
        check(b"name = \"x\"\n[vpcs.a]\ncidr = \"10.0.0.0/33\"\n");
        check(b"name = ");
        check(b"\xff\xfe");
    }
}
