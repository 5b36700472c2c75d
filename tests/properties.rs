//! Property tests of the CSV source on generated, damaged and arbitrary
//! input: it never panics and always ends, positions strictly increase,
//! every row it yields is a whole CSV record of the input (checked by the
//! small reader below, not by the csv crate the source uses), and every
//! rejected row carries the input's own bytes from its line.

use proptest::prelude::*;
use serde_json::Value;
use streamlake::{Column, ColumnType, CsvSource, Record, RecordSource, Rejected, SourceEvent};

const HEADER: &[u8] = b"a,b,c\n";

/// Everything the source yields from `body` (after a three-column
/// header), in order, with every column declared `string`.
fn read_all(body: &[u8], max_record_bytes: u64) -> (Vec<Record>, Vec<Rejected>, Vec<i64>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    std::fs::write(&path, [HEADER, body].concat()).unwrap();
    let columns = ["a", "b", "c"]
        .map(|name| Column::new(name, ColumnType::String))
        .to_vec();
    let mut source = CsvSource::builder()
        .columns(columns)
        .max_record_bytes(max_record_bytes)
        .open(&path)
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (mut records, mut rejected, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    // Each poll yields at least one row or ends; a file has fewer rows
    // than bytes.
    for _ in 0..=body.len() + 1 {
        match runtime.block_on(source.poll(7)).unwrap() {
            SourceEvent::Records {
                records: r,
                rejected: x,
            } => {
                let mut batch: Vec<_> = r
                    .iter()
                    .map(|r| r.position.offset)
                    .chain(x.iter().map(|x| x.position.offset))
                    .collect();
                batch.sort_unstable();
                positions.extend(batch);
                records.extend(r);
                rejected.extend(x);
            }
            SourceEvent::End => return (records, rejected, positions),
            other => panic!("a file source yielded {other:?}"),
        }
    }
    panic!("the source did not end within {} polls", body.len() + 2);
}

/// Byte offset where each line of the whole file starts (index 0 is line 1).
fn line_starts(file: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(memchr_all(file).map(|i| i + 1))
        .collect()
}

fn memchr_all(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
}

/// One CSV record read from the start of `input` as the source documents
/// its dialect (RFC 4180 with the csv crate's leniencies: a quote inside
/// an unquoted cell is literal, text after a closing quote joins the
/// cell; `\n` or `\r\n` end a record, a lone `\r` is data). `None` if the
/// input ends inside a quoted cell.
fn read_record(input: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut cells = vec![Vec::new()];
    let mut quoted = false;
    let mut at_cell_start = true;
    let mut i = 0;
    while i < input.len() {
        let byte = input[i];
        let cell = cells.last_mut().unwrap();
        match (quoted, byte) {
            (true, b'"') if input.get(i + 1) == Some(&b'"') => {
                cell.push(b'"');
                i += 1;
            }
            (true, b'"') => quoted = false,
            (true, _) => cell.push(byte),
            (false, b'"') if at_cell_start => quoted = true,
            (false, b',') => {
                cells.push(Vec::new());
                at_cell_start = true;
                i += 1;
                continue;
            }
            (false, b'\n') => {
                if i > 0 && input[i - 1] == b'\r' {
                    cell.pop();
                }
                return Some(cells);
            }
            (false, _) => cell.push(byte),
        }
        at_cell_start = false;
        i += 1;
    }
    (!quoted).then_some(cells)
}

/// The cells of a record the source yielded (empty for `null`).
fn yielded_cells(record: &Record) -> Vec<Vec<u8>> {
    let object: serde_json::Map<String, Value> = serde_json::from_slice(&record.value).unwrap();
    ["a", "b", "c"]
        .iter()
        .map(|name| match &object[*name] {
            Value::Null => Vec::new(),
            Value::String(s) => s.clone().into_bytes(),
            other => panic!("a string column held {other}"),
        })
        .collect()
}

/// The properties every input must keep.
fn check(body: &[u8], max_record_bytes: u64) -> Result<(), TestCaseError> {
    let (records, rejected, positions) = read_all(body, max_record_bytes);
    prop_assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions do not strictly increase: {positions:?}"
    );
    let file = [HEADER, body].concat();
    let starts = line_starts(&file);
    let start_of = |line: i64| starts[usize::try_from(line - 1).unwrap()];
    for record in &records {
        let line = record.position.offset;
        let whole = read_record(&file[start_of(line)..]);
        prop_assert_eq!(
            Some(yielded_cells(record)),
            whole,
            "line {} is not a whole record",
            line
        );
    }
    for bad in &rejected {
        let from = &file[start_of(bad.position.offset)..];
        prop_assert!(
            from.starts_with(&bad.raw),
            "the rejected bytes of line {} are not the input's",
            bad.position.offset
        );
    }
    Ok(())
}

/// A cell as written: bare text, or any text quoted.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 .]{0,6}",
        any::<String>().prop_map(|s| format!("\"{}\"", s.replace('"', "\"\""))),
    ]
}

fn row() -> impl Strategy<Value = String> {
    [cell(), cell(), cell()].prop_map(|cells| cells.join(","))
}

/// How one row is damaged.
#[derive(Clone, Debug)]
enum Damage {
    None,
    StrayQuote(prop::sample::Index),
    Byte(prop::sample::Index, u8),
    DropCell,
    ExtraCell,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => Just(Damage::None),
        1 => any::<prop::sample::Index>().prop_map(Damage::StrayQuote),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Byte(i, b)),
        1 => Just(Damage::DropCell),
        1 => Just(Damage::ExtraCell),
    ]
}

fn damaged(row: &str, damage: &Damage) -> Vec<u8> {
    let mut bytes = row.as_bytes().to_vec();
    match damage {
        Damage::None => {}
        Damage::StrayQuote(at) => bytes.insert(at.index(bytes.len() + 1), b'"'),
        Damage::Byte(at, byte) if !bytes.is_empty() => {
            let at = at.index(bytes.len());
            bytes[at] = *byte;
        }
        Damage::Byte(..) => bytes.push(0xff),
        Damage::DropCell => {
            let cut = bytes.iter().rposition(|b| *b == b',').unwrap_or(0);
            bytes.truncate(cut);
        }
        Damage::ExtraCell => bytes.extend_from_slice(b",x"),
    }
    bytes
}

fn terminator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["\n", "\r\n"])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Well-formed rows all come back, in order, cell for cell, at the
    /// line where each starts.
    #[test]
    fn well_formed_rows_come_back_whole_and_in_order(
        rows in prop::collection::vec(row(), 0..20),
        end in terminator(),
    ) {
        let body: String = rows.iter().map(|r| format!("{r}{end}")).collect();
        let (records, rejected, _) = read_all(body.as_bytes(), 1 << 20);
        prop_assert!(rejected.is_empty(), "{:?}", rejected);
        prop_assert_eq!(records.len(), rows.len());
        let mut line = 2;
        for (record, row) in records.iter().zip(&rows) {
            prop_assert_eq!(record.position.offset, line);
            prop_assert_eq!(Some(yielded_cells(record)), read_record(row.as_bytes()));
            line += row.matches('\n').count() as i64 + 1;
        }
    }

    /// Damaged rows (a stray quote, a wrong byte, a cell too few or too
    /// many) are rejected with their own bytes; what is yielded is whole.
    #[test]
    fn damaged_rows_never_yield_a_partial_record(
        rows in prop::collection::vec((row(), damage()), 1..20),
        end in terminator(),
        max_record_bytes in prop::sample::select(vec![48u64, 1 << 20]),
    ) {
        let mut body = Vec::new();
        for (row, damage) in &rows {
            body.extend(damaged(row, damage));
            body.extend_from_slice(end.as_bytes());
        }
        check(&body, max_record_bytes)?;
    }

    /// Any bytes at all: no panic, an end, and the same properties.
    #[test]
    fn arbitrary_bytes_never_panic_or_yield_a_partial_record(
        body in prop::collection::vec(
            prop_oneof![any::<u8>(), prop::sample::select(b",\"\n\r".to_vec())],
            0..512,
        ),
        max_record_bytes in prop::sample::select(vec![16u64, 1 << 20]),
    ) {
        check(&body, max_record_bytes)?;
    }
}
