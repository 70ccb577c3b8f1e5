//! The commands of README.md and docs/*.md, run as written, so that the docs cannot rot.
//!
//! Every `vpcesim ...` line of a ```` ```sh ```` block runs with the repository's files,
//! from a directory that has the repository's `examples/` and `scenarios/` (so relative
//! paths and printed paths are the user's). It must exit 0, or the code its comment
//! gives (`# exits 1`). A ```` ```text ```` block right after a block of one command is
//! that command's exact output. `serve` commands start, bind everything they name, and
//! stop on SIGTERM; the `dig` and `aws` lines of the README then run against the
//! README's `serve` (ignored without dig and the AWS CLI). Loopback ports are moved to
//! free ones, the same port to the same port throughout one file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{ServeProcess, free_port};

/// One fenced code block: its language and its lines.
#[derive(Debug)]
struct Block {
    lang: String,
    lines: Vec<String>,
}

/// One command line of a shell block: the words (continuations joined, the comment
/// cut off) and the exit code its comment promises.
#[derive(Debug, Clone)]
struct Line {
    words: Vec<String>,
    exit: i32,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("read docs/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for line in text.lines() {
        if let Some(fence) = line.trim_start().strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => {
                    current = Some(Block {
                        lang: fence.trim().to_string(),
                        lines: Vec::new(),
                    });
                }
            }
        } else if let Some(block) = &mut current {
            block.lines.push(line.to_string());
        }
    }
    assert!(current.is_none(), "an unclosed code block");
    out
}

/// The command lines of a shell block.
fn commands(block: &Block) -> Vec<Line> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in &block.lines {
        let (code, comment) = raw.split_once(" #").unwrap_or((raw.as_str(), ""));
        let code = code.trim_end();
        if let Some(head) = code.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(code);
        let words: Vec<String> = pending.split_whitespace().map(str::to_string).collect();
        pending.clear();
        if words.is_empty() {
            continue;
        }
        assert!(
            words.iter().all(|w| !w.contains(['"', '\''])),
            "quoting is not supported here: {words:?}"
        );
        let exit = comment
            .trim()
            .strip_prefix("exits ")
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .map_or(0, |n| n.parse().expect("an exit code"));
        out.push(Line { words, exit });
    }
    out
}

/// Moves loopback ports (`127.0.0.1:N`, and `N` after dig's `-p`) to free ones.
#[derive(Default)]
struct Ports(HashMap<u16, u16>);

impl Ports {
    fn port(&mut self, n: u16) -> u16 {
        *self.0.entry(n).or_insert_with(free_port)
    }

    fn apply(&mut self, words: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for word in words {
            let mapped = if out.last().is_some_and(|w| w == "-p") {
                self.port(word.parse().expect("a port after -p"))
                    .to_string()
            } else if let Some(at) = word.find("127.0.0.1:") {
                let start = at + "127.0.0.1:".len();
                let digits: String = word[start..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let port = self.port(digits.parse().expect("a port"));
                format!("{}{port}{}", &word[..start], &word[start + digits.len()..])
            } else {
                word.clone()
            };
            out.push(mapped);
        }
        out
    }
}

/// A directory that looks like the top of the repository to the commands.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    for name in ["examples", "scenarios"] {
        std::os::unix::fs::symlink(repo().join(name), dir.path().join(name))
            .expect("link a repository directory");
    }
    dir
}

/// Starts a documented `serve` command and waits until it serves everything it names.
fn start_serve(dir: &Path, args: &[String]) -> ServeProcess {
    let count = |flag: &str| args.iter().filter(|a| *a == flag).count();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let serve = ServeProcess::start_in(dir, &args, &[]);
    let wait = Duration::from_secs(20);
    serve.wait_for_log_n("serving DNS", count("--dns"), wait);
    serve.wait_for_log_n("forwarding TCP", count("--forward"), wait);
    serve.wait_for_log_n("serving the EC2 API", count("--api"), wait);
    serve
}

#[test]
fn every_documented_vpcesim_command_runs() {
    let mut ran = 0;
    let mut served = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).expect("read a doc");
        let dir = workdir();
        let mut ports = Ports::default();
        let all = blocks(&text);
        for (i, block) in all.iter().enumerate() {
            if block.lang != "sh" {
                continue;
            }
            let lines: Vec<Line> = commands(block)
                .into_iter()
                .filter(|l| l.words[0] == "vpcesim")
                .collect();
            let output = all.get(i + 1).filter(|next| next.lang == "text");
            for line in &lines {
                let words = ports.apply(&line.words);
                let shown = line.words.join(" ");
                if words[1] == "serve" {
                    let serve = start_serve(dir.path(), &words[2..]);
                    serve.signal(libc::SIGTERM);
                    let status = serve.wait_exit(Duration::from_secs(10));
                    assert!(status.success(), "{}: `{shown}`: {status}", file.display());
                    served += 1;
                    continue;
                }
                let out = Command::new(env!("CARGO_BIN_EXE_vpcesim"))
                    .args(&words[1..])
                    .current_dir(dir.path())
                    .env_remove("RUST_LOG")
                    .output()
                    .expect("run vpcesim");
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert_eq!(
                    out.status.code(),
                    Some(line.exit),
                    "{}: `{shown}`:\n{stdout}\n{}",
                    file.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                if let Some(want) = output {
                    assert_eq!(lines.len(), 1, "a text block follows one command");
                    assert_eq!(
                        stdout.trim_end(),
                        want.lines.join("\n").trim_end(),
                        "{}: the output shown for `{shown}` is not what it prints",
                        file.display()
                    );
                }
                ran += 1;
            }
        }
    }
    assert!(
        ran >= 6 && served >= 1,
        "ran {ran} commands and {served} serves"
    );
}

#[test]
fn the_scenario_guide_example_is_the_shipped_file() {
    let guide = std::fs::read_to_string(repo().join("docs/scenario-format.md")).expect("read");
    let file = std::fs::read_to_string(repo().join("examples/quickstart.toml")).expect("read");
    let shown = blocks(&guide)
        .into_iter()
        .find(|b| b.lang == "toml" && b.lines.first().is_some_and(|l| l.starts_with("name = ")))
        .expect("the complete example");
    assert_eq!(shown.lines.join("\n").trim_end(), file.trim_end());
}

#[test]
#[ignore = "needs dig and the AWS CLI: run .ci/run or cargo test -- --include-ignored"]
fn the_readme_dig_and_aws_commands_work_against_its_serve() {
    let text = std::fs::read_to_string(repo().join("README.md")).expect("read the README");
    let dir = workdir();
    let mut ports = Ports::default();
    let lines: Vec<Line> = blocks(&text)
        .iter()
        .filter(|b| b.lang == "sh")
        .flat_map(commands)
        .collect();
    let serve_line = lines
        .iter()
        .find(|l| l.words[..2] == ["vpcesim", "serve"] && l.words.iter().any(|w| w == "--api"))
        .expect("the README serves DNS and the API");
    let serve = start_serve(dir.path(), &ports.apply(&serve_line.words)[2..]);
    let mut env: Vec<(String, String)> = Vec::new();
    let (mut digs, mut calls) = (0, 0);
    for line in &lines {
        let words = ports.apply(&line.words);
        let program = match words[0].as_str() {
            "export" => {
                for pair in &words[1..] {
                    let (k, v) = pair.split_once('=').expect("NAME=VALUE");
                    env.push((k.into(), v.into()));
                }
                continue;
            }
            "dig" => crate::support::dig_program(),
            "aws" => crate::support::aws_program(),
            _ => continue,
        };
        let out = Command::new(program)
            .args(&words[1..])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir.path())
            .output()
            .expect("run a README command");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let shown = line.words.join(" ");
        assert!(
            out.status.success(),
            "`{shown}`:\n{stdout}\n{}\nserve:\n{}",
            String::from_utf8_lossy(&out.stderr),
            serve.log()
        );
        if words[0] == "dig" {
            assert!(stdout.contains("status: NOERROR"), "`{shown}`:\n{stdout}");
            assert!(
                stdout.contains("IN\tA\t"),
                "`{shown}`: no A record:\n{stdout}"
            );
            digs += 1;
        } else {
            assert!(stdout.contains("vpce-"), "`{shown}`:\n{stdout}");
            calls += 1;
        }
    }
    assert!(digs >= 2 && calls >= 1, "{digs} digs, {calls} aws calls");
}

#[test]
fn every_serve_flag_is_in_the_readme_with_its_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_vpcesim"))
        .args(["serve", "--help"])
        .output()
        .expect("run vpcesim serve --help");
    let help = String::from_utf8_lossy(&out.stdout);
    let flags: Vec<&str> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split([' ', ',', '=', '<']).find(|w| w.starts_with("--")))
        .filter(|f| !["--help", "--version"].contains(f))
        .collect();
    assert!(flags.len() >= 7, "{flags:?} from\n{help}");
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("read the README");
    for flag in flags {
        let row = readme
            .lines()
            .find(|l| {
                l.strip_prefix(&format!("| `{flag}"))
                    .is_some_and(|rest| rest.starts_with([' ', '`']))
            })
            .unwrap_or_else(|| panic!("the README's serve flags table has no row for {flag}"));
        let cells: Vec<&str> = row.split(" | ").collect();
        assert!(
            cells.len() >= 3 && !cells[1].trim().is_empty(),
            "{flag}: the row names no default: {row}"
        );
    }
}
