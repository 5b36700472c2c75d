//! Hive-style partition paths from a template over record fields and time.

use std::borrow::Cow;

use super::keys::visible;
use crate::error::{Error, Result};
use crate::time::civil_from_millis;
use crate::value::scan::KnownKeys;
use crate::value::{JsonFields, is_container, scalar_text};

/// A partition path template such as `index={Index}/dt={Date}`.
///
/// `{Name}` is the top-level field `Name` of the record value (exact name,
/// spaces allowed: `{Adj Close}`); `{@date}`, `{@year}`, `{@month}`,
/// `{@day}` and `{@hour}` are the record timestamp in UTC. Rendered values
/// are escaped the way Hive escapes partition values (`/` becomes `%2F`), so
/// a value can never add a directory level. An empty template puts every
/// record directly under the table.
///
/// ```
/// use streamlake::{PartitionTemplate, Position, Record};
/// let t = PartitionTemplate::parse("index={Index}/dt={Date}").unwrap();
/// let record = Record::new(Position::new("s", 0, 7), r#"{"Index":"HSI","Date":"1987-01-05"}"#);
/// let path = t.render_record(&record).unwrap();
/// assert_eq!(path, "index=HSI/dt=1987-01-05");
/// assert_eq!(t.fields().collect::<Vec<_>>(), ["Index", "Date"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionTemplate {
    pieces: Vec<Piece>,
    /// The names of the fields the pieces read, in order (a
    /// [`Piece::Field`] is an index into it).
    fields: Vec<String>,
    source: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// The field named by `fields[index]`.
    Field(usize),
    Time(TimePart),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimePart {
    Date,
    Year,
    Month,
    Day,
    Hour,
}

impl PartitionTemplate {
    /// No partitioning: objects go directly under the table.
    pub fn none() -> Self {
        Self {
            pieces: Vec::new(),
            fields: Vec::new(),
            source: String::new(),
        }
    }

    /// Parses a template, rejecting unbalanced braces, unknown `@` names and
    /// empty or relative (`.`/`..`) path segments.
    pub fn parse(template: &str) -> Result<Self> {
        let bad = |why: &str| Error::Config(format!("partition template {template:?}: {why}"));
        let template_trimmed = template.trim_matches('/');
        if !template_trimmed.is_empty()
            && template_trimmed
                .split('/')
                .any(|s| s.is_empty() || s.starts_with(['.', '_']))
        {
            return Err(bad(
                "empty, relative or hidden path segment (one starting with '.' or '_')",
            ));
        }
        let (mut pieces, mut fields) = (Vec::new(), Vec::new());
        let mut rest = template_trimmed;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                Some(i) if rest.as_bytes()[i] == b'}' => return Err(bad("unmatched '}'")),
                Some(i) => {
                    if i > 0 {
                        pieces.push(Piece::Literal(rest[..i].to_string()));
                    }
                    let end = rest[i..].find('}').ok_or_else(|| bad("unmatched '{'"))? + i;
                    let name = &rest[i + 1..end];
                    pieces.push(match name.strip_prefix('@') {
                        Some("date") => Piece::Time(TimePart::Date),
                        Some("year") => Piece::Time(TimePart::Year),
                        Some("month") => Piece::Time(TimePart::Month),
                        Some("day") => Piece::Time(TimePart::Day),
                        Some("hour") => Piece::Time(TimePart::Hour),
                        Some(other) => {
                            return Err(bad(&format!(
                                "unknown time part @{other} (use @date, @year, @month, @day, @hour)"
                            )));
                        }
                        None if name.is_empty() || name.contains('{') => {
                            return Err(bad("empty or nested field name"));
                        }
                        None => {
                            fields.push(name.to_string());
                            Piece::Field(fields.len() - 1)
                        }
                    });
                    rest = &rest[end + 1..];
                }
                None => {
                    pieces.push(Piece::Literal(rest.to_string()));
                    rest = "";
                }
            }
        }
        Ok(Self {
            pieces,
            fields,
            source: template_trimmed.to_string(),
        })
    }

    /// The record fields the template reads, in order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(String::as_str)
    }

    /// Parses a record's value (one JSON object, validated whole) and keeps
    /// the fields this template reads. `known` holds the keys of the
    /// records read before: a caller reading many keeps one.
    pub(crate) fn read_fields<'a>(
        &self,
        value: &'a [u8],
        known: &mut KnownKeys,
    ) -> Result<JsonFields<'a>, String> {
        let keep = |name: &[u8]| self.fields.iter().any(|field| field.as_bytes() == name);
        JsonFields::validate_keeping(value, keep, self.fields.len(), known)
    }

    /// [`read_fields`](Self::read_fields) for a record whose value the
    /// encoder decodes whole later ([`Encoder::checks_values`]): a plain
    /// scan validating only the fields kept, or the parse when the scan
    /// cannot read the record.
    ///
    /// [`Encoder::checks_values`]: crate::Encoder::checks_values
    pub(crate) fn scan_fields<'a>(&self, value: &'a [u8]) -> Result<JsonFields<'a>, String> {
        let keep = |name: &str| self.fields.iter().any(|field| field == name);
        JsonFields::scan_or_parse_keeping(value, keep, self.fields.len())
    }

    /// Whether the template reads the record time (`{@year}`, ...).
    pub fn has_time_parts(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Time(_)))
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Renders the path of a record (its value is a JSON object). A record
    /// whose value is not an object, or lacks a field the template reads,
    /// is [`Error::BadInput`] naming its position and the field.
    pub fn render_record(&self, record: &crate::record::Record) -> Result<String> {
        self.read_fields(&record.value, &mut KnownKeys::default())
            .and_then(|fields| self.render(&fields, record.timestamp))
            .map_err(|reason| Error::BadInput {
                position: record.position.clone(),
                reason,
            })
    }

    pub(crate) fn render(
        &self,
        fields: &JsonFields<'_>,
        timestamp: Option<i64>,
    ) -> Result<String, String> {
        let mut out = String::with_capacity(self.source.len() + 16);
        self.render_into(fields, timestamp, &mut out)?;
        Ok(out)
    }

    /// [`render`](Self::render) into `out` (cleared first): the sink
    /// renders every record's path into one buffer.
    pub(crate) fn render_into(
        &self,
        fields: &JsonFields<'_>,
        timestamp: Option<i64>,
        out: &mut String,
    ) -> Result<(), String> {
        out.clear();
        let time = || {
            let millis = timestamp.ok_or_else(|| {
                "the partition template uses the record time, and the record has no timestamp"
                    .to_string()
            })?;
            civil_from_millis(millis)
                .ok_or_else(|| format!("record timestamp {millis} is out of range"))
        };
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Field(index) => {
                    let name = &self.fields[*index];
                    let raw = fields
                        .get(name)
                        .ok_or_else(|| format!("partition field {name:?} is missing"))?;
                    if is_container(raw) {
                        return Err(format!("partition field {name:?} is not a scalar"));
                    }
                    let text = scalar_text(raw)
                        .ok_or_else(|| format!("partition field {name:?} is null"))?;
                    if text.is_empty() {
                        return Err(format!("partition field {name:?} is empty"));
                    }
                    let value = escape(&text);
                    // A value that starts a path segment must not hide it.
                    if out.is_empty() || out.ends_with('/') {
                        out.push_str(&visible(&value));
                    } else {
                        out.push_str(&value);
                    }
                }
                Piece::Time(part) => {
                    let (y, m, d, h) = time()?;
                    match part {
                        TimePart::Date => out.push_str(&format!("{y:04}-{m:02}-{d:02}")),
                        TimePart::Year => out.push_str(&format!("{y:04}")),
                        TimePart::Month => out.push_str(&format!("{m:02}")),
                        TimePart::Day => out.push_str(&format!("{d:02}")),
                        TimePart::Hour => out.push_str(&format!("{h:02}")),
                    }
                }
            }
        }
        Ok(())
    }
}

/// The bytes [`escape`] replaces (all ASCII), as a table.
const ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let c = byte as u8;
        table[byte] = c.is_ascii_control()
            || matches!(
                c,
                b'"' | b'#'
                    | b'%'
                    | b'\''
                    | b'*'
                    | b'/'
                    | b':'
                    | b'='
                    | b'?'
                    | b'\\'
                    | b'{'
                    | b'['
                    | b']'
                    | b'^'
            );
        byte += 1;
    }
    table
};

/// Escapes a value for one path segment the way Hive escapes partition
/// values (`FileUtils.escapePathName`): control characters and
/// `"#%'*/:=?\{[]^` become `%XX`.
pub(crate) fn escape(value: &str) -> Cow<'_, str> {
    let needs = |c: char| c.is_ascii() && ESCAPED[c as usize];
    // Only ASCII is ever escaped: one table load per byte.
    if !value.bytes().any(|b| ESCAPED[usize::from(b)]) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if needs(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, value: &str, ts: Option<i64>) -> Result<String, String> {
        let fields = JsonFields::parse(value.as_bytes())?;
        PartitionTemplate::parse(template)
            .unwrap()
            .render(&fields, ts)
    }

    #[test]
    fn golden_paths() {
        let row = r#"{"Index":"HSI","Date":"1987-01-05","Adj Close":2568.3,"n":-3}"#;
        assert_eq!(
            render("index={Index}/dt={Date}", row, None).unwrap(),
            "index=HSI/dt=1987-01-05"
        );
        assert_eq!(
            render("/c={Adj Close}/n={n}/", row, None).unwrap(),
            "c=2568.3/n=-3"
        );
        let ts = Some(536_806_800_000); // 1987-01-05T01:00:00Z
        assert_eq!(
            render("y={@year}/m={@month}/d={@day}/h={@hour}", row, ts).unwrap(),
            "y=1987/m=01/d=05/h=01"
        );
        assert_eq!(render("dt={@date}", row, ts).unwrap(), "dt=1987-01-05");
        assert_eq!(render("", row, None).unwrap(), "");
    }

    #[test]
    fn values_are_escaped_to_one_segment() {
        let got = render("k={v}", r#"{"v":"a/b=c:d%e#f ü"}"#, None).unwrap();
        assert_eq!(got, "k=a%2Fb%3Dc%3Ad%25e%23f ü");
        assert_eq!(render("k={v}", r#"{"v":".."}"#, None).unwrap(), "k=..");
    }

    #[test]
    fn relative_and_hidden_segments_are_escaped_once() {
        assert_eq!(render("{Index}", r#"{"Index":"."}"#, None).unwrap(), "%2E");
        assert_eq!(
            render("{Index}", r#"{"Index":".."}"#, None).unwrap(),
            "%2E."
        );
        assert_eq!(
            render("{Index}/x={Index}", r#"{"Index":"_a"}"#, None).unwrap(),
            "%5Fa/x=_a"
        );
        // The key keeps each escape as it is (no %252E).
        let lake = crate::lake::Lake::memory();
        let key = lake.key(["t", "%2E.", "name"]);
        assert_eq!(key.as_ref(), "t/%2E./name");
        assert!(PartitionTemplate::parse("_x={Index}").is_err());
        assert!(PartitionTemplate::parse(".x/{Index}").is_err());
    }

    #[test]
    fn a_record_time_out_of_range_is_refused_not_wrapped() {
        for ts in [i64::MAX, i64::MIN, 8_640_000_000_000_000_000] {
            let err = render("dt={@date}", "{}", Some(ts)).unwrap_err();
            assert!(err.contains("out of range"), "{ts}: {err}");
        }
        assert_eq!(
            render("dt={@date}", "{}", Some(-1)).unwrap(),
            "dt=1969-12-31"
        );
    }

    #[test]
    fn unusable_values_name_the_field() {
        let t = "index={Index}";
        assert!(
            render(t, r#"{"x":1}"#, None)
                .unwrap_err()
                .contains("\"Index\" is missing")
        );
        assert!(
            render(t, r#"{"Index":null}"#, None)
                .unwrap_err()
                .contains("is null")
        );
        assert!(
            render(t, r#"{"Index":[1]}"#, None)
                .unwrap_err()
                .contains("not a scalar")
        );
        assert!(
            render(t, r#"{"Index":""}"#, None)
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            render(t, "not json", None)
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(
            render("d={@date}", "{}", None)
                .unwrap_err()
                .contains("no timestamp")
        );
    }

    #[test]
    fn bad_templates_are_config_errors() {
        for bad in ["a={x", "a=x}", "a={}", "a//b", "../x", "t={@week}"] {
            assert!(
                matches!(PartitionTemplate::parse(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }
}
