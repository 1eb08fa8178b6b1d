//! When a scheduled report runs: `daily HH:MM`, `weekly DAY HH:MM` or `monthly D HH:MM`
//! (D from 1 to 28, so every month has it) in an IANA time zone, read from the system's
//! time zone database by jiff. A local time that a daylight-saving change skips runs at the
//! first instant after the gap; one that occurs twice runs at the first.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// How often.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    /// Every day.
    Day,
    /// Every week on this day.
    Week(Weekday),
    /// Every month on this day (1 to 28).
    Month(i8),
}

/// A schedule in a time zone.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// How often.
    pub every: Every,
    /// Local time of day.
    pub at: Time,
    /// The zone.
    pub tz: TimeZone,
    /// As written, for logs.
    pub text: String,
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

const FORMS: &str =
    "expected `daily HH:MM`, `weekly mon HH:MM` or `monthly D HH:MM` (D from 1 to 28)";

impl Schedule {
    /// Parses `text` in `timezone`; the error names the field (`schedule` or `timezone`).
    pub fn parse(text: &str, timezone: &str) -> Result<Schedule, (&'static str, String)> {
        let tz = TimeZone::get(timezone).map_err(|_| {
            (
                "timezone",
                format!(
                    "unknown time zone {timezone:?}: use an IANA name such as Europe/Berlin or UTC"
                ),
            )
        })?;
        let bad = |why: &str| ("schedule", format!("{text:?}: {why}; {FORMS}"));
        let words: Vec<&str> = text.split_whitespace().collect();
        let (every, time) = match words.as_slice() {
            ["daily", t] => (Every::Day, *t),
            ["weekly", day, t] => {
                let day = day.to_ascii_lowercase();
                let found = WEEKDAYS.iter().find(|(name, _)| day.starts_with(name));
                (Every::Week(found.ok_or_else(|| bad("unknown day"))?.1), *t)
            }
            ["monthly", d, t] => match d.parse::<i8>() {
                Ok(d @ 1..=28) => (Every::Month(d), *t),
                _ => return Err(bad("the day of the month must be 1 to 28")),
            },
            _ => return Err(bad("unknown form")),
        };
        let at = parse_time(time).ok_or_else(|| bad("the time must be HH:MM, 00:00 to 23:59"))?;
        Ok(Schedule {
            every,
            at,
            tz,
            text: format!("{text} {timezone}"),
        })
    }

    /// The latest scheduled instant at or before `t`.
    pub fn last_at_or_before(&self, t: Timestamp) -> Timestamp {
        let mut date = t.to_zoned(self.tz.clone()).date();
        // At most a month and a day back, whatever the form.
        for _ in 0..64 {
            if let Some(run) = self.run_on(date).filter(|run| *run <= t) {
                return run;
            }
            date = date.yesterday().unwrap_or(date);
        }
        t
    }

    /// The first scheduled instant after `t`.
    pub fn next_after(&self, t: Timestamp) -> Timestamp {
        let mut date = t.to_zoned(self.tz.clone()).date();
        for _ in 0..64 {
            if let Some(run) = self.run_on(date).filter(|run| *run > t) {
                return run;
            }
            date = date.tomorrow().unwrap_or(date);
        }
        t.checked_add(1.day()).unwrap_or(t)
    }

    /// The instant it runs on local `date`, if it runs that day.
    fn run_on(&self, date: Date) -> Option<Timestamp> {
        let runs = match self.every {
            Every::Day => true,
            Every::Week(day) => date.weekday() == day,
            Every::Month(day) => date.day() == day,
        };
        if !runs {
            return None;
        }
        // `to_zoned` resolves gaps and folds the "compatible" way: after a gap, the
        // earlier of a fold.
        date.to_datetime(self.at)
            .to_zoned(self.tz.clone())
            .ok()
            .map(|z| z.timestamp())
    }
}

fn parse_time(text: &str) -> Option<Time> {
    let (h, m) = text.split_once(':')?;
    if h.len() > 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn daily_at_eight_in_berlin_follows_daylight_saving() {
        let s = Schedule::parse("daily 08:00", "Europe/Berlin").unwrap();
        // Winter: UTC+1.
        assert_eq!(
            s.next_after(ts("2026-12-03T06:00:00Z")),
            ts("2026-12-03T07:00:00Z")
        );
        assert_eq!(
            s.next_after(ts("2026-12-03T07:00:00Z")),
            ts("2026-12-04T07:00:00Z")
        );
        assert_eq!(
            s.last_at_or_before(ts("2026-12-03T06:59:59Z")),
            ts("2026-12-02T07:00:00Z")
        );
        // Summer: UTC+2, across the change on 2027-03-28.
        assert_eq!(
            s.next_after(ts("2027-03-27T12:00:00Z")),
            ts("2027-03-28T06:00:00Z")
        );
    }

    #[test]
    fn a_time_the_clock_skips_runs_after_the_gap() {
        let s = Schedule::parse("daily 02:30", "Europe/Berlin").unwrap();
        // 02:30 does not exist on 2027-03-28: 03:30 CEST (01:30 UTC).
        assert_eq!(
            s.next_after(ts("2027-03-28T00:00:00Z")),
            ts("2027-03-28T01:30:00Z")
        );
    }

    #[test]
    fn weekly_and_monthly() {
        let w = Schedule::parse("weekly Mon 09:30", "America/New_York").unwrap();
        // 2026-12-03 is a Thursday; the next Monday is 12-07, 09:30 EST = 14:30 UTC.
        assert_eq!(
            w.next_after(ts("2026-12-03T00:00:00Z")),
            ts("2026-12-07T14:30:00Z")
        );
        assert_eq!(
            w.last_at_or_before(ts("2026-12-03T00:00:00Z")),
            ts("2026-11-30T14:30:00Z")
        );
        let m = Schedule::parse("monthly 1 07:00", "UTC").unwrap();
        assert_eq!(
            m.next_after(ts("2026-12-03T00:00:00Z")),
            ts("2027-01-01T07:00:00Z")
        );
        assert_eq!(
            m.last_at_or_before(ts("2026-12-03T00:00:00Z")),
            ts("2026-12-01T07:00:00Z")
        );
    }

    #[test]
    fn bad_schedules_and_zones_say_what_is_wrong() {
        let err = |s: &str, tz: &str| Schedule::parse(s, tz).unwrap_err();
        assert_eq!(err("daily 08:00", "Europe/Berln").0, "timezone");
        assert!(
            err("daily 08:00", "Mars/Olympus")
                .1
                .contains("unknown time zone")
        );
        assert!(err("daily 25:00", "UTC").1.contains("HH:MM"));
        assert!(err("monthly 31 08:00", "UTC").1.contains("1 to 28"));
        assert!(err("weekly funday 08:00", "UTC").1.contains("unknown day"));
        assert!(err("every hour", "UTC").1.contains("unknown form"));
    }
}
