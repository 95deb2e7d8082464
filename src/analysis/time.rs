//! The store's timestamps (`2026-12-02T07:11:49.123Z`, UTC) as seconds.

/// Seconds since the Unix epoch of an ISO-8601 UTC timestamp as the store
/// writes it (`YYYY-MM-DDTHH:MM:SS[.fff]Z`, or with a space for `T`); None
/// for any other text.
pub fn unix_seconds(text: &str) -> Option<f64> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, clock) = text.split_once(['T', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let mut c = clock.splitn(3, ':');
    let (h, min): (i64, i64) = (c.next()?.parse().ok()?, c.next()?.parse().ok()?);
    let s: f64 = c.next()?.parse().ok()?;
    let valid = (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&min)
        && (0.0..61.0).contains(&s);
    valid.then(|| (days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60) as f64 + s)
}

/// Seconds from `start` to `end`, when both can be read.
pub fn seconds_between(start: &str, end: &str) -> Option<f64> {
    Some(unix_seconds(end)? - unix_seconds(start)?)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_timestamps_read_as_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            unix_seconds("2000-03-01T00:00:00.000Z"),
            Some(951_868_800.0)
        );
        assert_eq!(unix_seconds("2026-12-02 07:11:49Z"), Some(1_796_195_509.0));
        let t = seconds_between("2026-12-02T07:11:49.250Z", "2026-12-02T07:12:50.500Z");
        assert!((t.unwrap() - 61.25).abs() < 1e-9);
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-12-02"] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
    }
}
