//! Sizes (`"10GB"`, `"512MiB"`) and durations (`"5s"`, `"250ms"`) as scenarios write them.

use std::time::Duration;

/// Parses a size: kB, MB, GB, TB are powers of 10; KiB, MiB, GiB, TiB powers of 2; a
/// bare integer is bytes. Decimals are allowed (`"1.5GB"`); the result is whole bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    const UNITS: &[(&str, u64)] = &[
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("TiB", 1 << 40),
        ("kB", 1_000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
        ("TB", 1_000_000_000_000),
        ("B", 1),
    ];
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim();
    let multiplier = if unit.is_empty() {
        1
    } else {
        UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, m)| *m)
            .ok_or_else(|| size_error(text))?
    };
    let value: f64 = number.parse().map_err(|_| size_error(text))?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("size `{text}` must be at least one byte"));
    }
    Ok(bytes.round() as u64)
}

fn size_error(text: &str) -> String {
    format!(
        "`{text}` is not a size: write a number and a unit such as \"10GB\", \"512MiB\" or \"64kB\" \
         (kB, MB, GB, TB are powers of 10; KiB, MiB, GiB, TiB powers of 2), or a whole number of bytes"
    )
}

/// The longest duration a scenario may write (`wait`, `timeout`, `provisioning`): 365
/// days. With at most [`MAX_STEPS`] steps the simulated clock then stays far below what
/// a `Duration` holds, so no sum of a file's durations can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The most steps one file may have.
pub const MAX_STEPS: usize = 100_000;

/// The most bytes one `transfer` may move: 1 TB. The virtual network simulates every
/// packet, so a bigger transfer would not finish in any useful wall time.
pub const MAX_TRANSFER_BYTES: u64 = 1_000_000_000_000;

/// Parses a duration such as `"5s"`, `"250ms"`, `"2m"` or `"1h 30m"`, at most
/// [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|_| {
        format!("`{text}` is not a duration: write a number and a unit such as \"5s\", \"250ms\" or \"2m\"")
    })?;
    if duration > MAX_DURATION {
        return Err(format!(
            "`{text}` is longer than 365 days, the longest simulated duration a scenario may write"
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64kB"), Ok(64_000));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(
            parse_size("ten gigs")
                .unwrap_err()
                .contains("is not a size")
        );
        assert!(parse_size("10 gigs").is_err());
        assert!(parse_size("10gb").is_err(), "units are case-sensitive");
        assert!(parse_size("0").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("5").is_err());
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
        assert!(
            parse_duration("18446744073709551615s")
                .unwrap_err()
                .contains("longer than 365 days")
        );
        assert!(parse_duration("366d").is_err());
    }
}
