//! Whole-object compression: gzip or zstd.

use std::io::{Read, Write};

use bytes::{BufMut, BytesMut};

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
        match *self {
            Compression::None => out.put_slice(input),
            Compression::Gzip(level) => {
                let mut encoder = flate2::GzBuilder::new()
                    .write(out.writer(), flate2::Compression::new(level.min(9)));
                encoder.write_all(input)?;
                encoder.finish()?;
            }
            Compression::Zstd(level) => {
                let mut encoder = zstd::Encoder::new(out.writer(), level)?;
                encoder.include_checksum(true)?;
                encoder.write_all(input)?;
                encoder.finish()?;
            }
        }
        Ok(())
    }

    /// Decompresses a whole object.
    pub fn decompress(&self, input: &[u8]) -> std::io::Result<Vec<u8>> {
        self.decompress_prefix(input, u64::MAX).map(|(out, _)| out)
    }

    /// Decompresses at most `limit` bytes from the start of an object (a
    /// bounded sample); true when there was more.
    pub fn decompress_prefix(&self, input: &[u8], limit: u64) -> std::io::Result<(Vec<u8>, bool)> {
        let reader: Box<dyn Read + '_> = match self {
            Compression::None => Box::new(input),
            Compression::Gzip(_) => Box::new(flate2::read::MultiGzDecoder::new(input)),
            Compression::Zstd(_) => Box::new(zstd::Decoder::new(input)?),
        };
        let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(limit as usize));
        reader.take(limit.saturating_add(1)).read_to_end(&mut out)?;
        let more = out.len() as u64 > limit;
        out.truncate(limit.min(out.len() as u64) as usize);
        Ok((out, more))
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
