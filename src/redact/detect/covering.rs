//! Whether an earlier detector's finding covers a phone candidate, in one ordered pass.

use std::ops::Range;

use super::Finding;

/// The findings of earlier detectors, asked whether one covers a position. Positions are
/// asked in increasing order, so each finding is passed once: asking every finding for
/// every candidate made a text full of numbers quadratic in its findings.
pub(super) struct Covering {
    /// Sorted by start.
    ranges: Vec<Range<usize>>,
    /// The first range not yet passed.
    next: usize,
    /// The furthest end of the ranges passed.
    reach: usize,
}

impl Covering {
    pub(super) fn new(found: &[Finding]) -> Covering {
        let mut ranges: Vec<Range<usize>> = found.iter().map(|f| f.range.clone()).collect();
        ranges.sort_unstable_by_key(|r| r.start);
        Covering {
            ranges,
            next: 0,
            reach: 0,
        }
    }

    /// Whether a range starting at or before `at` ends after it; `at` never decreases
    /// from one call to the next.
    pub(super) fn covers(&mut self, at: usize) -> bool {
        while let Some(r) = self.ranges.get(self.next)
            && r.start <= at
        {
            self.reach = self.reach.max(r.end);
            self.next += 1;
        }
        self.reach > at
    }
}
