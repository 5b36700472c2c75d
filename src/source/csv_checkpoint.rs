//! The checkpoint of a [`CsvSource`](super::CsvSource): where to resume,
//! tied to the file it was written for.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Bytes from the start of the file that identify it.
const HEAD: usize = 64 * 1024;

/// The position after the last durable row, and which file it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    pub(super) file: PathBuf,
    /// Last committed line.
    pub(super) line: i64,
    pub(super) byte: u64,
    pub(super) next_line: u64,
    pub(super) next_record: u64,
    /// The file it was written for (absent in checkpoints written before
    /// files were identified).
    #[serde(default)]
    pub(super) head: Option<FileHead>,
}

/// A file's identity: its first bytes (a CRC-32 of up to 64 KiB) and how
/// many. A file that only grew keeps its identity; another file with the
/// same name does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileHead {
    pub(super) len: u64,
    pub(super) crc32: u32,
}

impl FileHead {
    /// The identity of the file at `path`.
    pub(super) fn of(path: &Path) -> Result<Self> {
        Self::of_prefix(path, HEAD as u64)
    }
}

impl Checkpoint {
    /// The checkpoint at `path` for the file at `file`, if there is one.
    /// One written for another file (or a file that shrank below it) is an
    /// error, never a silent skip of rows.
    pub(super) fn read(path: &Path, file: &Path) -> Result<Option<Self>> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let state: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            what: format!("checkpoint {}", path.display()),
            reason: e.to_string(),
        })?;
        let size = std::fs::metadata(file)
            .map_err(|e| Error::io(format!("reading {}", file.display()), e))?
            .len();
        let mismatch = |why: String| {
            Err(Error::Config(format!(
                "checkpoint {} does not belong to {}: {why}; remove the checkpoint to read the \
                 file from its start",
                path.display(),
                file.display()
            )))
        };
        match state.head {
            Some(then) if FileHead::of_prefix(file, then.len)? != then => {
                mismatch("the file's first bytes differ from the file it was written for".into())
            }
            _ if state.byte > size => mismatch(format!(
                "it resumes at byte {} of a file of {size} bytes",
                state.byte
            )),
            None => {
                tracing::warn!(
                    "checkpoint {} names no file identity (older format): trusting it",
                    path.display()
                );
                Ok(Some(state))
            }
            Some(_) => Ok(Some(state)),
        }
    }

    /// Writes atomically (temp file, fsync, rename).
    pub(super) fn write(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("tmp");
        let context = || format!("writing checkpoint {}", path.display());
        let mut file = File::create(&tmp).map_err(|e| Error::io(context(), e))?;
        file.write_all(&serde_json::to_vec(self).expect("checkpoint serializes"))
            .and_then(|_| file.sync_all())
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| Error::io(context(), e))
    }
}

impl FileHead {
    /// The identity of the file's first `len` bytes.
    fn of_prefix(path: &Path, len: u64) -> Result<Self> {
        let mut head = Vec::with_capacity(len as usize);
        File::open(path)
            .and_then(|f| f.take(len).read_to_end(&mut head))
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let mut crc = flate2::Crc::new();
        crc.update(&head);
        Ok(Self {
            len: head.len() as u64,
            crc32: crc.sum(),
        })
    }
}
