//! Record timestamps (milliseconds since the epoch, UTC) to and from civil
//! dates, on `chrono` (days of a date by arithmetic of our own):
//! out-of-range and malformed values are `None`, never an overflow.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike};

/// Milliseconds in a day.
pub(crate) const MILLIS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a (proleptic Gregorian) civil date, if it
/// exists, by Howard Hinnant's `days_from_civil`: this runs for every date
/// cell of a bulk load, where chrono's general constructor cost a tenth of
/// the time.
pub(crate) fn days_from_civil(year: i32, month: u32, day: u32) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 => 28 + u32::from(leap),
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if !(1..=month_days).contains(&day) {
        return None;
    }
    // Years start in March, so a leap day ends its year.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((i64::from(month) + 9) % 12) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// `YYYY-MM-DD` of a day number since 1970-01-01.
pub(crate) fn format_date(days: i64) -> String {
    NaiveDate::default()
        .checked_add_signed(chrono::TimeDelta::try_days(days).unwrap_or_default())
        .map_or_else(
            || "invalid-date".into(),
            |d| d.format("%Y-%m-%d").to_string(),
        )
}

/// (year, month, day, hour) of a timestamp, if it is a representable time.
pub(crate) fn civil_from_millis(millis: i64) -> Option<(i32, u32, u32, u32)> {
    let t = DateTime::from_timestamp_millis(millis)?;
    Some((t.year(), t.month(), t.day(), t.hour()))
}

/// Parses a `YYYY-MM-DD` date alone (no time of day) into the milliseconds
/// of its midnight (UTC): a Parquet `date` value or Delta partition value.
#[cfg(feature = "parquet")]
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    parse_timestamp(text).filter(|_| text.len() == 10)
}

/// Parses `YYYY-MM-DD`, optionally followed by `T` or a space and
/// `HH:MM[:SS[.fraction]]` and an optional `Z`, into milliseconds since the
/// epoch (UTC). Every field is unsigned digits of its fixed width; anything
/// else (a sign, an out-of-range field) is `None`.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = number(&b[0..4])? as i32; // four digits
    let days = days_from_civil(year, number(&b[5..7])?, number(&b[8..10])?)?;
    let rest = text[10..].strip_suffix('Z').unwrap_or(&text[10..]);
    let millis_of_day = match rest.as_bytes() {
        [] => 0,
        [b'T' | b' ', time @ ..] => {
            let time = time_of_day(time)?;
            // A leap second's nanoseconds run past 10^9, as in chrono's
            // `timestamp_millis`.
            i64::from(time.num_seconds_from_midnight()) * 1000
                + i64::from(time.nanosecond() / 1_000_000)
        }
        _ => return None,
    };
    Some(days * MILLIS_PER_DAY + millis_of_day)
}

/// `HH:MM[:SS[.fraction]]`.
fn time_of_day(b: &[u8]) -> Option<NaiveTime> {
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let (hour, minute) = (number(&b[0..2])?, number(&b[3..5])?);
    let (second, nanos) = match &b[5..] {
        [] => (0, 0),
        [b':', s0, s1, rest @ ..] => {
            let second = number(&[*s0, *s1])?;
            let nanos = match rest {
                [] => 0,
                [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
                    number(digits)? * 10u32.pow(9 - digits.len() as u32)
                }
                _ => return None,
            };
            (second, nanos)
        }
        _ => return None,
    };
    // A leap second (60) is the last nanoseconds of second 59.
    match second {
        60 => NaiveTime::from_hms_nano_opt(hour, minute, 59, 1_000_000_000 + nanos),
        _ => NaiveTime::from_hms_nano_opt(hour, minute, second, nanos),
    }
}

/// Unsigned decimal digits, at most nine of them.
fn number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS_PER_DAY: i64 = 86_400_000;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(1987, 1, 5), Some(6213));
        assert_eq!(days_from_civil(1987, 2, 30), None);
        assert_eq!(format_date(6213), "1987-01-05");
        assert_eq!(
            civil_from_millis(6213 * MS_PER_DAY + 3_723_500),
            Some((1987, 1, 5, 1))
        );
        assert_eq!(civil_from_millis(-1), Some((1969, 12, 31, 23)));
        assert_eq!(civil_from_millis(i64::MAX), None);
        assert_eq!(civil_from_millis(i64::MIN), None);
    }

    #[test]
    fn parses_dates_and_datetimes() {
        assert_eq!(parse_timestamp("1987-01-05"), Some(6213 * MS_PER_DAY));
        assert_eq!(
            parse_timestamp("1987-01-05T01:02:03.5Z"),
            Some(6213 * MS_PER_DAY + 3_723_500)
        );
        assert_eq!(
            parse_timestamp("1987-01-05 01:02"),
            Some(6213 * MS_PER_DAY + 3_720_000)
        );
        assert!(parse_timestamp("2000-02-29").is_some());
        assert!(parse_timestamp("0000-02-29").is_some());
        assert_eq!(parse_timestamp("0000-01-01"), Some(-719_528 * MS_PER_DAY));
        assert!(parse_timestamp("2016-12-31T23:59:60Z").is_some());
        for bad in [
            "",
            "1987-13-01",
            "1987-02-30",
            "1900-02-29",
            "2100-02-29",
            "1987-04-31",
            "1987-01-00",
            "87-01-05",
            "1987-01-05x",
            "HSI",
            "2001-01-01T-99999999999999:00",
            "2001-01-01T99999999999999:00",
            "2001-01-01T24:00",
            "2001-01-01T1:00",
            "2001-01-01T01:00:00.",
            "2001-01-01T01:00:00.1234567890",
            "+001-01-01",
            "-001-01-01",
            "2001-+1-01",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Days since 1970-01-01 by chrono: a reference that shares no code
    /// with the parser's own arithmetic.
    fn reference_days(year: i32, month: u32, day: u32) -> i64 {
        let date = NaiveDate::from_ymd_opt(year, month, day).expect("a valid date");
        date.signed_duration_since(NaiveDate::default()).num_days()
    }

    proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_without_panicking(text in any::<String>()) {
            let _ = parse_timestamp(&text);
        }

        #[test]
        fn signed_and_oversized_fields_are_refused_or_in_range(
            text in "[-+0-9]{1,6}-[-+0-9]{1,4}-[-+0-9]{1,4}([T ][-+0-9]{0,16}(:[-+.0-9]{0,16}){0,3})?Z?"
        ) {
            if let Some(millis) = parse_timestamp(&text) {
                prop_assert!(civil_from_millis(millis).is_some(), "{text} -> {millis}");
                prop_assert!(!text.contains(['+']), "{text} has a sign");
            }
        }

        #[test]
        fn a_date_parses_exactly_when_chrono_says_it_exists(
            (year, month, day) in (0i32..=9999, 0u32..=13, 0u32..=32),
        ) {
            let text = format!("{year:04}-{month:02}-{day:02}");
            let exists = NaiveDate::from_ymd_opt(year, month, day).is_some();
            prop_assert_eq!(parse_timestamp(&text).is_some(), exists, "{}", text);
            if exists {
                prop_assert_eq!(
                    parse_timestamp(&text),
                    Some(reference_days(year, month, day) * 86_400_000)
                );
            }
        }

        #[test]
        fn written_timestamps_read_back(
            (year, month, day) in (0i32..=9999, 1u32..=12, 1u32..=31),
            (hour, minute, second) in (0u32..24, 0u32..60, 0u32..60),
            millis in proptest::option::of(0u32..1000),
            separator in prop::sample::select(vec!["T", " "]),
            zulu in any::<bool>(),
        ) {
            prop_assume!(NaiveDate::from_ymd_opt(year, month, day).is_some());
            let fraction = millis.map(|m| format!(".{m:03}")).unwrap_or_default();
            let text = format!(
                "{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{}",
                if zulu { "Z" } else { "" }
            );
            let parsed = parse_timestamp(&text).expect("a well-formed timestamp");
            let expected = reference_days(year, month, day) * 86_400_000
                + i64::from(hour * 3_600_000 + minute * 60_000 + second * 1000)
                + i64::from(millis.unwrap_or(0));
            prop_assert_eq!(parsed, expected, "{}", text);
            prop_assert_eq!(civil_from_millis(parsed), Some((year, month, day, hour)));
            prop_assert_eq!(format_date(reference_days(year, month, day)), &text[..10]);
        }
    }
}
