//! Load errors: every problem of a file, each naming the file, line and column and
//! saying what is wrong, with the source kept so that a report can show the line and a
//! caret under the place (rendered by `codespan-reporting`, the way rustc shows them).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use codespan_reporting::diagnostic::{Diagnostic as Snippet, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;
use serde::Serialize;

/// One problem of a scenario file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem has no position (an unreadable file).
    pub line: usize,
    /// 1-based column, in characters; 0 with line 0.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The bytes of the source it points at, for the caret.
    #[serde(skip)]
    pub span: Option<Range<usize>>,
    /// A consequence of an earlier problem (a reference to an object that did not
    /// load): not reported, so that one mistake gives one message.
    #[serde(skip)]
    pub(crate) follows: bool,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl Diagnostic {
    /// A problem at byte `span` of `source`.
    pub fn at(file: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, column) = line_column(source, span.start);
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            span: Some(span),
            follows: false,
        }
    }

    /// A problem at `span`, whose line and column are already known.
    pub(crate) fn at_position(
        file: &Path,
        span: Range<usize>,
        (line, column): (usize, usize),
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            span: Some(span),
            follows: false,
        }
    }

    /// A problem with no position.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            span: None,
            follows: false,
        }
    }

    /// Marks this problem as a consequence of an earlier one.
    pub(crate) fn following(mut self) -> Self {
        self.follows = true;
        self
    }
}

/// Why a scenario file did not load: every problem found, in file order.
#[derive(Debug, Clone, thiserror::Error)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// Its text, for showing the lines the problems point at.
    source_text: String,
    /// The problems, at least one, ordered by line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    /// One `file:line:column: message` line per problem.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, d) in self.diagnostics.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl Serialize for LoadError {
    /// As the list of its problems.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.diagnostics.serialize(serializer)
    }
}

impl LoadError {
    /// The problems of `file`, whose text is `source`.
    pub fn new(file: &Path, source: &str, mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by_key(|d| (d.line, d.column));
        Self {
            file: file.to_path_buf(),
            source_text: source.to_string(),
            diagnostics,
        }
    }

    /// A file that could not be read, or had no position to point at.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self::new(file, "", vec![Diagnostic::whole_file(file, message)])
    }

    /// The first problem.
    pub fn first(&self) -> &Diagnostic {
        &self.diagnostics[0]
    }

    /// Every problem as `file:line:column: message`, each followed by its source line
    /// with a caret under the place, as a compiler shows them.
    pub fn render(&self) -> String {
        let files = SimpleFile::new(self.file.display().to_string(), self.source_text.as_str());
        let config = term::Config {
            chars: term::Chars::ascii(),
            ..term::Config::default()
        };
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.to_string());
            out.push('\n');
            let Some(span) = &d.span else { continue };
            let snippet = Snippet::error().with_labels(vec![Label::primary(
                (),
                first_line_of(&self.source_text, span),
            )]);
            if let Ok(text) = term::emit_into_string(&config, &files, &snippet) {
                // The first line is codespan's own `error` header: the line above
                // already says what is wrong and where.
                for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// `span`, clamped to the source and cut at the end of its first line, so that a
/// caret marks the place and a whole table is not reprinted.
fn first_line_of(source: &str, span: &Range<usize>) -> Range<usize> {
    let start = span.start.min(source.len());
    let end = span.end.clamp(start, source.len());
    let line_end = source
        .get(start..end)
        .and_then(|text| text.find('\n'))
        .map_or(end, |i| start + i);
    start..line_end
}

/// Where each line of a source starts, so that turning a byte offset into a line and a
/// column costs a binary search rather than a scan from the top of the file (a scan
/// per step made loading quadratic in the number of steps).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `source`.
    pub(crate) fn new(source: &str) -> Self {
        Self {
            starts: codespan_reporting::files::line_starts(source).collect(),
        }
    }

    /// 1-based line and column (in characters) of byte `offset` of `source`, the text
    /// this index was built from.
    pub(crate) fn position(&self, source: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(source.len());
        let line = self.starts.partition_point(|start| *start <= offset).max(1);
        let start = self.starts[line - 1];
        let column = source
            .get(start..offset)
            .map_or(1, |text| text.chars().count() + 1);
        (line, column)
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        assert_eq!(line_column(src, 11), (2, 6));
        let e = Diagnostic::at(Path::new("x.toml"), src, 6..8, "bad");
        assert_eq!(e.to_string(), "x.toml:2:1: bad");
    }

    #[test]
    fn every_problem_is_shown_with_its_line_and_a_caret() {
        let src = "name = \"x\"\ncidr = \"10.1.0.0/24\"\nseed = -1\n";
        let file = Path::new("x.toml");
        let error = LoadError::new(
            file,
            src,
            vec![
                Diagnostic::at(file, src, 39..41, "seed is negative"),
                Diagnostic::at(file, src, 18..31, "outside its VPC"),
            ],
        );
        assert_eq!(error.first().line, 2, "ordered by position");
        assert_eq!(
            error.to_string(),
            "x.toml:2:8: outside its VPC\nx.toml:3:8: seed is negative"
        );
        let shown = error.render();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[0], "x.toml:2:8: outside its VPC", "{shown}");
        assert!(lines[1].contains("--> x.toml:2:8"), "{shown}");
        let source_line = lines
            .iter()
            .position(|l| l.ends_with("cidr = \"10.1.0.0/24\""))
            .expect("the source line");
        let caret = lines[source_line + 1];
        let column = caret.find('^').expect("a caret");
        assert_eq!(&lines[source_line][column..column + 1], "\"", "{shown}");
        assert!(shown.contains("x.toml:3:8: seed is negative\n"), "{shown}");
        assert!(shown.contains("seed = -1"), "{shown}");
    }

    #[test]
    fn the_line_index_agrees_with_a_scan() {
        let src = "a = 1\nbé = 2\n\nlast";
        let index = LineIndex::new(src);
        for offset in 0..=src.len() + 3 {
            if src.is_char_boundary(offset.min(src.len())) {
                assert_eq!(
                    index.position(src, offset),
                    line_column(src, offset),
                    "offset {offset}"
                );
            }
        }
    }
}
