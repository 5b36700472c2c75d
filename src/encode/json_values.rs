//! JSON tokens (the raw text of one value) converted to the values of
//! the Parquet encoder's column types, each token validated as it is
//! converted: `None` when the token is valid JSON of another kind, an
//! error when it is not valid JSON or breaks a column's rule (a fraction
//! in a `bigint` column). Text conversions follow arrow-json's: a number
//! written as a string fits a number column; dates and timestamps outside
//! our own format go through `arrow-cast`'s parsers.

use std::borrow::Cow;

use arrow_array::types::Date32Type;
use arrow_cast::parse::{Parser, string_to_datetime};
use serde::de::IgnoredAny;

use crate::time::{MILLIS_PER_DAY, parse_date, parse_timestamp};
use crate::value::scan::{is_json_number, utf8};

/// At most 40 bytes of a token, for an error message.
pub(super) fn shown(token: &[u8]) -> String {
    let text = String::from_utf8_lossy(token);
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.into_owned(),
    }
}

/// The text of a JSON string token (escapes decoded); `Ok(None)` when the
/// token is valid JSON but not a string, an error when it is not valid.
pub(super) fn string(token: &[u8]) -> Result<Option<Cow<'_, str>>, String> {
    if let [b'"', inner @ .., b'"'] = token {
        if inner
            .iter()
            .all(|b| *b >= 0x20 && *b != b'\\' && *b != b'"')
        {
            return utf8(inner)
                .map(|s| Some(s.into()))
                .map_err(|_| "a string is not valid UTF-8".into());
        }
        return serde_json::from_slice::<String>(token)
            .map(|s| Some(s.into()))
            .map_err(|e| e.to_string());
    }
    scalar(token).map(|()| None)
}

/// Checks a token that is not a string: a number, a literal, or a nested
/// value (valid JSON, though no column holds it).
pub(super) fn scalar(token: &[u8]) -> Result<(), String> {
    if is_json_number(token) || matches!(token, b"true" | b"false" | b"null") {
        return Ok(());
    }
    serde_json::from_slice::<IgnoredAny>(token)
        .map(drop)
        .map_err(|e| format!("{} is not valid JSON: {e}", shown(token)))
}

/// JSON's number grammar, for `lexical-core`: checked while parsed.
const JSON: u128 = lexical_core::format::JSON;
const JSON_FLOATS: lexical_core::ParseFloatOptions = lexical_core::ParseFloatOptions::new();
const JSON_INTEGERS: lexical_core::ParseIntegerOptions = lexical_core::ParseIntegerOptions::new();

/// A whole number: a JSON number without fraction or exponent, or a string
/// holding one.
pub(super) fn bigint(token: &[u8]) -> Result<Option<i64>, String> {
    if let Ok(whole) = lexical_core::parse_with_options::<i64, JSON>(token, &JSON_INTEGERS) {
        return Ok(Some(whole));
    }
    if is_json_number(token) {
        if token.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return Err(format!(
                "{} is not a whole number (bigint column)",
                shown(token)
            ));
        }
        return Ok(None); // past 64 bits
    }
    Ok(string(token)?.and_then(|s| s.parse().ok()))
}

/// A JSON number, or a string holding one.
pub(super) fn double(token: &[u8]) -> Result<Option<f64>, String> {
    if let Ok(number) = lexical_core::parse_with_options::<f64, JSON>(token, &JSON_FLOATS) {
        return Ok(Some(number));
    }
    if is_json_number(token) {
        // Out of the double's range: what std's parser makes of it.
        return Ok(std::str::from_utf8(token).ok().and_then(|s| s.parse().ok()));
    }
    Ok(string(token)?.and_then(|s| s.parse().ok()))
}

/// Days since the epoch: a date string (`YYYY-MM-DD`, or what arrow-cast
/// reads as a date), or a whole number of days.
pub(super) fn date(token: &[u8]) -> Result<Option<i32>, String> {
    if is_json_number(token) {
        return Ok(lexical_core::parse(token).ok());
    }
    let Some(text) = string(token)? else {
        return Ok(None);
    };
    Ok(date_days(&text).or_else(|| Date32Type::parse(&text)))
}

/// Days since the epoch of a `YYYY-MM-DD` date (our own format only).
pub(super) fn date_days(text: &str) -> Option<i32> {
    i32::try_from(parse_date(text)?.div_euclid(MILLIS_PER_DAY)).ok()
}

/// Milliseconds since the epoch: a timestamp string (ours, or what
/// arrow-cast reads, as UTC), or a number of milliseconds.
pub(super) fn timestamp(token: &[u8]) -> Result<Option<i64>, String> {
    if is_json_number(token) {
        let millis = lexical_core::parse::<i64>(token).ok();
        return Ok(millis.or_else(|| lexical_core::parse::<f64>(token).ok().map(|m| m as i64)));
    }
    let Some(text) = string(token)? else {
        return Ok(None);
    };
    Ok(parse_timestamp(&text).or_else(|| {
        string_to_datetime(&chrono::Utc, &text)
            .ok()
            .map(|t| t.timestamp_millis())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_json_grammar() {
        for text in [
            "0",
            "-0",
            "7",
            "2568.300049",
            "1e5",
            "-1.5E-3",
            "0.0",
            "1E+2",
            "1e400",
            "-1e-400",
            "",
            "-",
            "007",
            "1.",
            ".5",
            "+1",
            "1e",
            "NaN",
            "Infinity",
            "0x1f",
            "1e+",
            "--1",
        ] {
            let token = text.as_bytes();
            let want: Option<f64> = is_json_number(token).then(|| text.parse().unwrap());
            assert_eq!(double(token).ok().flatten(), want, "{text}");
            let whole = is_json_number(token) && !text.contains(['.', 'e', 'E']);
            assert_eq!(
                bigint(token).ok().flatten(),
                whole.then(|| text.parse().unwrap()),
                "{text}"
            );
        }
    }
}
