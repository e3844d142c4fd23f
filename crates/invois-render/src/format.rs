//! How numbers and times are written on the copy: the same strings in HTML and PDF.

use chrono::{DateTime, FixedOffset, Offset as _, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

/// Malaysia's time zone (UTC+08:00, no daylight saving). MyInvois keeps times in UTC; a
/// Malaysian buyer reads them in local time, so the copy prints local time and says so.
const MYT_SECONDS: i32 = 8 * 3600;

/// An amount: two decimals, rounded half away from zero (as a person rounds sen), with
/// thousands separators: `1,234.50`, `-10.00`.
pub(crate) fn money(amount: Decimal) -> String {
    let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    grouped(&format!("{rounded:.2}"))
}

/// A unit price: two decimals, or more when the document gives more (a price of 0.125
/// per unit is not rounded away), with thousands separators.
pub(crate) fn price(amount: Decimal) -> String {
    let normal = amount.normalize();
    if normal.scale() <= 2 {
        money(amount)
    } else {
        grouped(&normal.to_string())
    }
}

/// A quantity as the document gives it, without trailing zeros: `2`, `1.5`, `1,000`.
pub(crate) fn quantity(amount: Decimal) -> String {
    grouped(&amount.normalize().to_string())
}

/// A percentage rate: `10%`, `6.5%`.
pub(crate) fn percent(rate: Decimal) -> String {
    format!("{}%", rate.normalize())
}

/// An exchange rate as written, without trailing zeros (rates carry up to 6 decimals).
pub(crate) fn rate(rate: Decimal) -> String {
    rate.normalize().to_string()
}

/// A UTC instant in Malaysia time, with the offset written out so nobody has to guess:
/// `2026-01-15 16:00:05 (UTC+08:00)`.
pub(crate) fn local_time(at: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(MYT_SECONDS).unwrap_or_else(|| Utc.fix());
    at.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M:%S (UTC+08:00)")
        .to_string()
}

/// Inserts thousands separators into the integer part of a plain decimal string.
fn grouped(plain: &str) -> String {
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut out = String::with_capacity(plain.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::TimeZone;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn money_has_two_decimals_and_groups() {
        assert_eq!(money(d("0")), "0.00");
        assert_eq!(money(d("1234.5")), "1,234.50");
        assert_eq!(money(d("1234567.005")), "1,234,567.01");
        assert_eq!(money(d("-1000")), "-1,000.00");
        assert_eq!(money(d("999.994")), "999.99");
    }

    #[test]
    fn prices_keep_significant_decimals() {
        assert_eq!(price(d("3500.00")), "3,500.00");
        assert_eq!(price(d("0.125")), "0.125");
        assert_eq!(price(d("12")), "12.00");
    }

    #[test]
    fn quantities_and_rates_lose_trailing_zeros() {
        assert_eq!(quantity(d("2.000")), "2");
        assert_eq!(quantity(d("1500.5")), "1,500.5");
        assert_eq!(percent(d("10.00")), "10%");
        assert_eq!(rate(d("4.720000")), "4.72");
    }

    #[test]
    fn times_are_malaysian() {
        let at = Utc.with_ymd_and_hms(2026, 1, 15, 20, 0, 5).unwrap();
        assert_eq!(local_time(at), "2026-01-16 04:00:05 (UTC+08:00)");
    }
}
