//! Which endpoints and VPCs each change touched, so that readers (DNS snapshots, rule
//! tables) rebuild only those instead of comparing the whole world.

use std::collections::VecDeque;

use super::ControlPlane;

/// How many touches the journal keeps; a reader further behind compares everything.
const JOURNAL_LEN: usize = 4096;

/// One object a change touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// An endpoint (its key): created, modified, or its state changed.
    Endpoint(String),
    /// A VPC (its name): its DNS attributes changed.
    Vpc(String),
}

/// The bounded record of touches, each with the generation it belongs to.
#[derive(Debug, Clone, Default)]
pub(super) struct Journal {
    entries: VecDeque<(u64, Touched)>,
    /// Touches of generations up to this one were dropped.
    floor: u64,
}

impl ControlPlane {
    /// Records that the change now being made (the next generation) touched `what`.
    pub(super) fn touch(&mut self, what: Touched) {
        let journal = &mut self.journal;
        if journal.entries.len() == JOURNAL_LEN
            && let Some((generation, _)) = journal.entries.pop_front()
        {
            journal.floor = journal.floor.max(generation);
        }
        journal.entries.push_back((self.generation + 1, what));
    }

    /// Everything touched after generation `since`, or `None` when the journal no longer
    /// reaches back that far (then the reader must compare everything).
    pub fn touched_since(&self, since: u64) -> Option<impl Iterator<Item = &Touched>> {
        (since >= self.journal.floor).then(|| {
            self.journal
                .entries
                .iter()
                .filter(move |(generation, _)| *generation > since)
                .map(|(_, what)| what)
        })
    }
}
