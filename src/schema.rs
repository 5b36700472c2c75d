//! The shape of records: [`Column`]s with a [`ColumnType`], how types are
//! inferred from JSON values and text and widen when values disagree, and
//! (feature `parquet`) how they map to Arrow types.
//!
//! Used by the sources (typed CSV), the encoders (Parquet), the catalog
//! (crawled tables) and SQL; it depends on nothing above [`Record`]s.
//!
//! ```
//! use streamlake::schema::{Column, ColumnType};
//! let close = Column::new("Adj Close", ColumnType::Double);
//! assert_eq!(close.column_type.sql_name(), "double");
//! assert_eq!(ColumnType::Bigint.widen(ColumnType::Double), ColumnType::Double);
//! ```
//!
//! [`Record`]: crate::Record

use serde::{Deserialize, Serialize};

use crate::time::parse_timestamp;
use crate::value::{Raw, is_container};

/// One column: its name exactly as in the data (e.g. `Adj Close`) and type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Name as it appears in the objects (JSON key, CSV header, Parquet field).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
}

impl Column {
    /// A column called `name` of type `column_type`.
    pub fn new(name: impl Into<String>, column_type: ColumnType) -> Self {
        Self {
            name: name.into(),
            column_type,
        }
    }
}

/// A column's type, named as Athena and Glue name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// `true` / `false`.
    Boolean,
    /// A whole number that fits in 64 bits.
    Bigint,
    /// A number with a fraction or exponent.
    Double,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DD` followed by a time of day (`T` or space, optional `Z`).
    Timestamp,
    /// Anything else, including JSON objects and arrays (as their JSON text).
    String,
}

impl ColumnType {
    /// The narrowest type holding values of both: bigint → double → string,
    /// date → timestamp → string; anything else mixed is string.
    pub fn widen(self, other: ColumnType) -> ColumnType {
        use ColumnType::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Bigint, Double) | (Double, Bigint) => Double,
            (Date, Timestamp) | (Timestamp, Date) => Timestamp,
            _ => String,
        }
    }

    /// The Athena / Hive DDL name.
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnType::Boolean => "boolean",
            ColumnType::Bigint => "bigint",
            ColumnType::Double => "double",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::String => "string",
        }
    }

    /// The type of one JSON value; `None` for null (it says nothing).
    pub(crate) fn of_json(raw: Raw<'_>) -> Option<ColumnType> {
        let text = raw.get();
        match text.as_bytes().first()? {
            b'n' => None,
            b't' | b'f' => Some(ColumnType::Boolean),
            b'"' => Some(
                serde_json::from_str::<std::string::String>(text)
                    .map_or(ColumnType::String, |s| ColumnType::of_string(&s)),
            ),
            _ if is_container(raw) => Some(ColumnType::String),
            _ => Some(number_type(text)),
        }
    }

    /// The type of one text cell (CSV, partition value); `None` for empty.
    pub(crate) fn of_text(text: &str) -> Option<ColumnType> {
        if text.is_empty() {
            return None;
        }
        if text == "true" || text == "false" {
            return Some(ColumnType::Boolean);
        }
        let digits = text.strip_prefix('-').unwrap_or(text);
        let numeric = digits.starts_with(|c: char| c.is_ascii_digit());
        // A leading zero (`02134`, `007`) is a code, not a number.
        let code = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
        if numeric && !code && text.parse::<f64>().is_ok() {
            return Some(number_type(text));
        }
        Some(ColumnType::of_string(text))
    }

    /// A JSON string's type: a date or timestamp when it reads as one.
    fn of_string(text: &str) -> ColumnType {
        match parse_timestamp(text) {
            Some(_) if text.len() == 10 => ColumnType::Date,
            Some(_) => ColumnType::Timestamp,
            None => ColumnType::String,
        }
    }
}

/// Bigint for whole numbers in range, double for the rest.
fn number_type(text: &str) -> ColumnType {
    if text.parse::<i64>().is_ok() {
        ColumnType::Bigint
    } else {
        ColumnType::Double
    }
}

/// The Arrow type a column is stored as (Parquet objects, SQL).
#[cfg(feature = "parquet")]
pub(crate) fn arrow_type(column_type: ColumnType) -> arrow_schema::DataType {
    use arrow_schema::{DataType, TimeUnit};
    match column_type {
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Bigint => DataType::Int64,
        ColumnType::Double => DataType::Float64,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
        ColumnType::String => DataType::Utf8,
    }
}

/// The column type of an Arrow type read from a file.
#[cfg(feature = "parquet")]
pub(crate) fn column_type(data_type: &arrow_schema::DataType) -> ColumnType {
    use arrow_schema::DataType;
    match data_type {
        DataType::Boolean => ColumnType::Boolean,
        t if t.is_integer() => ColumnType::Bigint,
        t if t.is_floating() => ColumnType::Double,
        DataType::Decimal128(..) | DataType::Decimal256(..) => ColumnType::Double,
        DataType::Date32 | DataType::Date64 => ColumnType::Date,
        DataType::Timestamp(..) => ColumnType::Timestamp,
        _ => ColumnType::String,
    }
}

#[cfg(test)]
mod tests {
    use super::ColumnType::{self, *};

    fn json(text: &str) -> Option<ColumnType> {
        let raw = serde_json::from_str::<&serde_json::value::RawValue>(text).unwrap();
        ColumnType::of_json(raw.into())
    }

    #[test]
    fn infers_json_and_text_values() {
        assert_eq!(json("null"), None);
        assert_eq!(json("true"), Some(Boolean));
        assert_eq!(json("12"), Some(Bigint));
        assert_eq!(json("-1.5e3"), Some(Double));
        assert_eq!(json("190011434.0"), Some(Double));
        assert_eq!(json("99999999999999999999"), Some(Double));
        assert_eq!(json(r#""1990-01-02""#), Some(Date));
        assert_eq!(json(r#""1990-01-02T10:00:00Z""#), Some(Timestamp));
        assert_eq!(json(r#""1990-13-02""#), Some(String));
        assert_eq!(json(r#""2001-01-01T-99999999999999:00""#), Some(String));
        assert_eq!(
            ColumnType::of_text("2001-01-01T99999999999999:00"),
            Some(String)
        );
        assert_eq!(json(r#""HSI""#), Some(String));
        assert_eq!(json(r#"{"a":1}"#), Some(String));
        assert_eq!(json("[1]"), Some(String));
        assert_eq!(ColumnType::of_text(""), None);
        assert_eq!(ColumnType::of_text("1990"), Some(Bigint));
        assert_eq!(ColumnType::of_text("0"), Some(Bigint));
        assert_eq!(ColumnType::of_text("0.5"), Some(Double));
        assert_eq!(ColumnType::of_text("02134"), Some(String));
        assert_eq!(ColumnType::of_text("-0.25"), Some(Double));
        assert_eq!(ColumnType::of_text("inf"), Some(String));
        assert_eq!(ColumnType::of_text("NaN"), Some(String));
        assert_eq!(ColumnType::of_text("2021-06-01"), Some(Date));
        assert_eq!(ColumnType::of_text("a, \"b\""), Some(String));
    }

    #[test]
    fn widens_along_the_documented_chains() {
        assert_eq!(Bigint.widen(Double), Double);
        assert_eq!(Double.widen(Bigint), Double);
        assert_eq!(Double.widen(String), String);
        assert_eq!(Date.widen(Timestamp), Timestamp);
        assert_eq!(Date.widen(Bigint), String);
        assert_eq!(Boolean.widen(Bigint), String);
        assert_eq!(Bigint.widen(Bigint), Bigint);
    }
}
