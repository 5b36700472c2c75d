//! What the bytes of an object are: its [`Format`] (JSON Lines, CSV,
//! Parquet) and whole-object [`Compression`] (gzip, zstd). The writing side
//! (encoders, the lake sink) and the reading side (crawler, SQL) both name
//! objects through these.

use std::io::{Read, Write};

use bytes::{BufMut, BytesMut};

/// How a table's objects are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// JSON Lines (`.jsonl`, `.json`, `.ndjson`).
    #[serde(rename = "jsonl")]
    JsonLines,
    /// CSV with a header row (`.csv`).
    #[serde(rename = "csv")]
    Csv,
    /// Parquet (`.parquet`).
    #[serde(rename = "parquet")]
    Parquet,
}

impl Format {
    /// The format of an object from its file name (after any `.gz`/`.zst`).
    pub fn from_file_name(name: &str) -> Option<Format> {
        let name = name
            .strip_suffix(".gz")
            .or_else(|| name.strip_suffix(".zst"))
            .unwrap_or(name);
        let (_, ext) = name.rsplit_once('.')?;
        match ext {
            "jsonl" | "json" | "ndjson" => Some(Format::JsonLines),
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

impl Format {
    /// The name used on command lines and in the catalog: `jsonl`, `csv`,
    /// `parquet`.
    pub fn name(self) -> &'static str {
        match self {
            Format::JsonLines => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = crate::error::Error;

    /// `jsonl` (also `json`, `ndjson`), `csv` or `parquet`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jsonl" | "json" | "ndjson" => Ok(Format::JsonLines),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            other => Err(crate::error::Error::Config(format!(
                "format {other:?}: expected jsonl, csv or parquet"
            ))),
        }
    }
}

/// Compression applied to a whole encoded object.
///
/// Output is deterministic (gzip headers carry no time or name), so a replay
/// that re-encodes the same records produces the same bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Store as encoded.
    #[default]
    None,
    /// gzip at the given level (0-9; 6 is zlib's default).
    Gzip(u32),
    /// zstd at the given level (1-22; 3 is zstd's default).
    Zstd(i32),
}

impl Compression {
    /// gzip at level 6.
    pub fn gzip() -> Self {
        Compression::Gzip(6)
    }

    /// zstd at level 3.
    pub fn zstd() -> Self {
        Compression::Zstd(3)
    }

    /// The names [`FromStr`](std::str::FromStr) accepts.
    pub const NAMES: [&str; 3] = ["none", "gzip", "zstd"];

    /// The file-name suffix this compression adds (`.gz`, `.zst`, or none).
    pub fn suffix(&self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip(_) => ".gz",
            Compression::Zstd(_) => ".zst",
        }
    }

    /// The compression a file name's suffix says it has.
    pub fn from_file_name(name: &str) -> Self {
        if name.ends_with(".gz") {
            Compression::gzip()
        } else if name.ends_with(".zst") {
            Compression::zstd()
        } else {
            Compression::None
        }
    }

    /// Appends `input`, compressed, to `out`.
    pub fn compress(&self, input: &[u8], out: &mut BytesMut) -> std::io::Result<()> {
        self.compress_chunks([input], out)
    }

    /// [`compress`](Self::compress) of `chunks` one after another, as one
    /// input.
    pub(crate) fn compress_chunks<'a>(
        &self,
        chunks: impl IntoIterator<Item = &'a [u8]>,
        out: &mut BytesMut,
    ) -> std::io::Result<()> {
        let write_all = |to: &mut dyn Write| chunks.into_iter().try_for_each(|c| to.write_all(c));
        match *self {
            Compression::None => write_all(&mut out.writer())?,
            Compression::Gzip(level) => {
                let mut encoder = flate2::GzBuilder::new()
                    .write(out.writer(), flate2::Compression::new(level.min(9)));
                write_all(&mut encoder)?;
                encoder.finish()?;
            }
            Compression::Zstd(level) => {
                let mut encoder = zstd::Encoder::new(out.writer(), level)?;
                encoder.include_checksum(true)?;
                write_all(&mut encoder)?;
                encoder.finish()?;
            }
        }
        Ok(())
    }

    /// Decompresses a whole object.
    pub fn decompress(&self, input: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() * 4);
        match self {
            Compression::None => out.extend_from_slice(input),
            Compression::Gzip(_) => {
                flate2::read::MultiGzDecoder::new(input).read_to_end(&mut out)?;
            }
            Compression::Zstd(_) => {
                zstd::Decoder::new(input)?.read_to_end(&mut out)?;
            }
        }
        Ok(out)
    }

    /// The name [`FromStr`](std::str::FromStr) parses: `none`, `gzip` or `zstd`.
    pub fn name(&self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip(_) => "gzip",
            Compression::Zstd(_) => "zstd",
        }
    }

    /// A decompressor fed chunk by chunk (as an object downloads); `None`
    /// for uncompressed data.
    pub(crate) fn stream_decompressor(&self) -> std::io::Result<Option<StreamDecompressor>> {
        Ok(match self {
            Compression::None => None,
            Compression::Gzip(_) => Some(StreamDecompressor::Gzip(Box::new(
                flate2::write::MultiGzDecoder::new(Vec::new()),
            ))),
            Compression::Zstd(_) => Some(StreamDecompressor::Zstd(
                zstd::stream::write::Decoder::new(Vec::new())?,
            )),
        })
    }
}

/// Decompresses chunk by chunk into memory.
pub(crate) enum StreamDecompressor {
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
}

/// Compressed bytes decompressed at once by [`StreamDecompressor::write_up_to`]:
/// small enough that no input (zstd's best case is about 128 KiB out of 3
/// bytes in) can expand past a few MiB in one step.
const STEP: usize = 64;

impl StreamDecompressor {
    /// Decompresses the next chunk of input.
    pub(crate) fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        match self {
            StreamDecompressor::Gzip(d) => d.write_all(chunk),
            StreamDecompressor::Zstd(d) => d.write_all(chunk).and_then(|_| d.flush()),
        }
    }

    /// Decompresses `chunk` in small steps and stops once the output holds
    /// more than `limit` bytes: a small, highly compressed input (a
    /// "compression bomb") cannot expand much past the limit. True when it
    /// stopped early.
    pub(crate) fn write_up_to(&mut self, chunk: &[u8], limit: usize) -> std::io::Result<bool> {
        for step in chunk.chunks(STEP) {
            self.write(step)?;
            if self.output().len() > limit {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Takes the first `n` bytes of output out (at most all of it).
    pub(crate) fn take(&mut self, n: usize) -> Vec<u8> {
        let out = match self {
            StreamDecompressor::Gzip(d) => d.get_mut(),
            StreamDecompressor::Zstd(d) => d.get_mut(),
        };
        out.drain(..n.min(out.len())).collect()
    }

    /// What came out so far.
    pub(crate) fn output(&self) -> &Vec<u8> {
        match self {
            StreamDecompressor::Gzip(d) => d.get_ref(),
            StreamDecompressor::Zstd(d) => d.get_ref(),
        }
    }

    /// What came out so far, without checking the stream's end.
    pub(crate) fn into_output(self) -> Vec<u8> {
        match self {
            StreamDecompressor::Gzip(d) => d.get_ref().clone(),
            StreamDecompressor::Zstd(d) => d.into_inner(),
        }
    }

    /// Everything, after checking the stream ended properly.
    pub(crate) fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            StreamDecompressor::Gzip(d) => (*d).finish(),
            StreamDecompressor::Zstd(mut d) => {
                d.flush()?;
                Ok(d.into_inner())
            }
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = crate::error::Error;

    /// `none`, `gzip` (level 6) or `zstd` (level 3).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::gzip()),
            "zstd" => Ok(Compression::zstd()),
            other => Err(crate::error::Error::Config(format!(
                "compression {other:?}: expected one of {:?}",
                Self::NAMES
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compression_bomb_is_decompressed_in_bounded_steps() {
        // 200 MiB of zeros in a few KiB, and the same in gzip.
        let zeros = vec![0u8; 200 << 20];
        for compression in [Compression::zstd(), Compression::gzip()] {
            let mut bomb = BytesMut::new();
            compression.compress(&zeros, &mut bomb).unwrap();
            assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
            let mut d = compression.stream_decompressor().unwrap().unwrap();
            let limit = 1 << 20;
            assert!(d.write_up_to(&bomb, limit).unwrap(), "stopped early");
            let out = d.output().len();
            assert!(out > limit && out < limit + (4 << 20), "{out} bytes out");
            assert_eq!(d.take(10), [0; 10]);
            assert_eq!(d.output().len(), out - 10);
        }
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let input = b"{\"Index\":\"HSI\"}\n".repeat(1000);
        for c in [Compression::None, Compression::gzip(), Compression::zstd()] {
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            c.compress(&input, &mut a).unwrap();
            c.compress(&input, &mut b).unwrap();
            assert_eq!(a, b, "{c:?} output must not depend on time");
            assert_eq!(c.decompress(&a).unwrap(), input);
            assert_eq!(
                Compression::from_file_name(&format!("x.jsonl{}", c.suffix())),
                c
            );
        }
        let mut gz = BytesMut::new();
        Compression::gzip().compress(&input, &mut gz).unwrap();
        assert!(gz.len() < input.len() / 10);
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    }
}
