//! Date-times on the wire: UTC ISO-8601 (`2022-11-25T01:59:10Z`).
//!
//! Written with whole seconds and a `Z`, as MyInvois writes them. Read leniently: fractions of
//! a second (real responses carry up to seven digits) and a missing offset (taken as UTC) are
//! both accepted, so a variant in one endpoint does not break a client.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Formats a date-time as MyInvois writes it.
pub fn format(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses a date-time leniently (see the module docs).
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

/// `#[serde(with = "invois_api::datetime::utc")]`
pub mod utc {
    use super::*;

    /// Serialises with [`super::format`].
    pub fn serialize<S: Serializer>(dt: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(dt))
    }

    /// Deserialises with [`super::parse`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid date-time `{raw}`")))
    }
}

/// `#[serde(default, with = "invois_api::datetime::utc_opt")]`
pub mod utc_opt {
    use super::*;

    /// Serialises `None` as `null`.
    pub fn serialize<S: Serializer>(dt: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match dt {
            Some(dt) => s.serialize_str(&super::format(dt)),
            None => s.serialize_none(),
        }
    }

    /// Accepts `null`, an empty string, or a date-time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(raw) if raw.trim().is_empty() => Ok(None),
            Some(raw) => super::parse(&raw)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid date-time `{raw}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_seconds_with_z() {
        let dt = parse("2022-11-25T01:59:10.1234567Z").unwrap();
        assert_eq!(format(&dt), "2022-11-25T01:59:10Z");
    }

    #[test]
    fn reads_variants() {
        let a = parse("2022-11-25T01:59:10Z").unwrap();
        assert_eq!(parse("2022-11-25T01:59:10").unwrap(), a);
        assert_eq!(parse("2022-11-25T09:59:10+08:00").unwrap(), a);
        assert!(parse("2022-11-25").is_none());
        assert!(parse("{dateFrom}").is_none());
    }
}
