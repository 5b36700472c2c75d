//! Civil-date arithmetic for record timestamps (UTC, proleptic Gregorian),
//! small enough not to need a date crate.

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parts of a timestamp in milliseconds since the epoch:
/// (year, month, day, hour).
pub(crate) fn civil_from_millis(millis: i64) -> (i64, u32, u32, u32) {
    let days = millis.div_euclid(MS_PER_DAY);
    let hour = (millis.rem_euclid(MS_PER_DAY) / 3_600_000) as u32;
    let (y, m, d) = civil_from_days(days);
    (y, m, d, hour)
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD`, optionally followed by `T` or a space and
/// `HH:MM[:SS[.fff]]` and an optional `Z`, into milliseconds since the epoch
/// (UTC). Returns `None` for anything else.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i64 = text.get(0..4)?.parse().ok()?;
    let month: u32 = text.get(5..7)?.parse().ok()?;
    let day: u32 = text.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut millis = days_from_civil(year, month, day) * MS_PER_DAY;
    let rest = text[10..].trim_end_matches('Z');
    if rest.is_empty() {
        return Some(millis);
    }
    let time = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    let mut parts = time.splitn(3, ':');
    let hour: i64 = parts.next()?.parse().ok()?;
    let minute: i64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next().map_or(Some(0.0), |s| s.parse().ok())?;
    if hour > 23 || minute > 59 || !(0.0..61.0).contains(&seconds) {
        return None;
    }
    millis += hour * 3_600_000 + minute * 60_000 + (seconds * 1000.0).round() as i64;
    Some(millis)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1987, 1, 5), 6213);
        assert_eq!(format_date(6213), "1987-01-05");
        for days in -800_000..800_000i64 {
            if days % 997 == 0 {
                let (y, m, d) = civil_from_days(days);
                assert_eq!(days_from_civil(y, m, d), days);
            }
        }
    }

    #[test]
    fn parses_dates_and_datetimes() {
        assert_eq!(parse_timestamp("1987-01-05"), Some(6213 * MS_PER_DAY));
        assert_eq!(
            parse_timestamp("1987-01-05T01:02:03.5Z"),
            Some(6213 * MS_PER_DAY + 3_723_500)
        );
        assert_eq!(
            civil_from_millis(6213 * MS_PER_DAY + 3_723_500),
            (1987, 1, 5, 1)
        );
        for bad in [
            "",
            "1987-13-01",
            "1987-02-30",
            "87-01-05",
            "1987-01-05x",
            "HSI",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert!(parse_timestamp("2000-02-29").is_some());
    }
}
