//! Report periods: a day, a week or a month (30 days) ending at a given instant, and the
//! period before it, which the report compares against.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// How long a report looks back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    /// 24 hours: the daily summary.
    Day,
    /// 7 days: the weekly deep dive.
    Week,
    /// 30 days: the monthly board report (the MAU window, so users and spend agree).
    Month,
}

impl PeriodKind {
    /// The length.
    pub fn length(self) -> Duration {
        Duration::from_secs(match self {
            PeriodKind::Day => 86_400,
            PeriodKind::Week => 7 * 86_400,
            PeriodKind::Month => 30 * 86_400,
        })
    }

    /// The length as a PromQL range.
    pub fn range(self) -> &'static str {
        match self {
            PeriodKind::Day => "1d",
            PeriodKind::Week => "7d",
            PeriodKind::Month => "30d",
        }
    }

    /// The name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PeriodKind::Day => "day",
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
        }
    }

    /// The adjective used in titles.
    pub fn title(self) -> &'static str {
        match self {
            PeriodKind::Day => "Daily summary",
            PeriodKind::Week => "Weekly deep dive",
            PeriodKind::Month => "Monthly board report",
        }
    }
}

/// A period: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// Which kind.
    pub kind: PeriodKind,
    /// Start, RFC 3339.
    pub start: Timestamp,
    /// End, RFC 3339.
    pub end: Timestamp,
}

impl Period {
    /// The period of `kind` that ends at `end`.
    pub fn ending(kind: PeriodKind, end: Timestamp) -> Period {
        let length = SignedDuration::try_from(kind.length()).unwrap_or(SignedDuration::ZERO);
        Period {
            kind,
            start: end.saturating_sub(length).unwrap_or(end),
            end,
        }
    }

    /// The period just before this one.
    pub fn previous(&self) -> Period {
        Period::ending(self.kind, self.start)
    }

    /// Length in seconds.
    pub fn seconds(&self) -> u64 {
        self.kind.length().as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_period_ends_where_this_one_starts() {
        let end: Timestamp = "2026-12-03T08:00:00Z".parse().unwrap();
        let week = Period::ending(PeriodKind::Week, end);
        assert_eq!(week.start.to_string(), "2026-11-26T08:00:00Z");
        assert_eq!(week.previous().end, week.start);
        assert_eq!(week.previous().start.to_string(), "2026-11-19T08:00:00Z");
        assert_eq!(Period::ending(PeriodKind::Month, end).seconds(), 2_592_000);
    }
}
