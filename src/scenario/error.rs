//! Load errors that name the file, line and column, and say what is wrong.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why a scenario file did not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line; 0 when the error has no position (an unreadable file).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
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

impl LoadError {
    /// An error at byte `span` of `source`.
    pub fn at(file: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, column) = line_column(source, span.start);
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error at a line and column already known.
    pub(crate) fn at_position(
        file: &Path,
        (line, column): (usize, usize),
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error with no position.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }
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
        let e = LoadError::at(Path::new("x.toml"), src, 6..8, "bad");
        assert_eq!(e.to_string(), "x.toml:2:1: bad");
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
