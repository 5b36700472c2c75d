//! The object-store lake sink, as a short chain of stages (Vector's sink
//! shape): route → batch → encode → commit → report durable.
//!
//! - [`PartitionTemplate`] routes a record to its partition path;
//! - the batcher (`batch.rs`, pure, no I/O) keeps each source partition's
//!   open group, decides when it closes (rotation, a recorded boundary) and
//!   which group to write early under memory pressure;
//! - the encode stage (`objects.rs`) turns a closed group into objects;
//! - the commit stage (`commit.rs`) makes it durable: for Hive objects a
//!   group marker, then conditional puts; a table format replaces only this
//!   step;
//! - [`LakeSink`] drives them and reports durable positions.
//!
//! One code path for every [`object_store`] backend (local directory,
//! in-memory; S3 with the `s3` feature). Objects are named
//! `{table}/{partition path}/{stream}+{partition}+{first_offset:020}.{ext}`;
//! dead letters ([`LakeDeadLetters`]) are named by the same function under
//! `_errors/`. See `docs/design.md` for the invariants and how each is kept.

mod batch;
mod buffer;
mod builder;
mod commit;
mod dead_letters;
mod in_flight;
mod keys;
mod landing;
mod marker;
mod objects;
mod partition;
mod rotation;
mod sink;
mod upload;

pub use self::builder::LakeSinkBuilder;
pub use self::dead_letters::LakeDeadLetters;
pub use self::landing::{Landed, LandingListener, Ticket};
pub use self::partition::PartitionTemplate;
pub use self::rotation::Rotation;
pub use self::sink::LakeSink;

// The seam a table format plugs into (crate::table).
#[cfg(feature = "delta")]
pub(crate) use self::{
    batch::Group,
    builder::SinkSettings,
    commit::{CommitStep, Recorded, Written},
    objects::encode_group_with,
    upload::put_all_new,
};
