//! Everything read after the fact: logs, signatures, timeline, database
//! snapshots, check-db. Never touches a running node's database.
//!
//! - [`redact`]: the one [`redact::Redactor`] holding every volatility rule;
//! - [`signatures`]: crash/trouble signatures from a log, crash.log or stderr;
//! - [`timeline`]: several logs merged by timestamp;
//! - [`dbread`]: opening a `lightningd.sqlite3` read-only (immutable, or a
//!   private copy when a hot journal/WAL is left over);
//! - [`checkdb`]: the offline doctor (`cln-harness check-db`), with its
//!   `accounting` invariants; both fill a [`checkreport::CheckReport`];
//! - [`snapshot`]: a normalised, deterministic JSON picture of a database;
//! - [`logdigest`]: a redacted, order-stable digest of each node's log per start;
//! - [`snapfile`]: snapshot files in insta's format, compared and written by `run --snapshots`.
//!
//! Real inputs for the tests live in `fixtures/evidence/` (see its README).

pub mod accounting;
pub mod checkdb;
pub mod checkreport;
pub mod dbread;
pub mod logdigest;
pub mod pgmirror;
pub mod redact;
pub mod signatures;
pub mod snapfile;
pub mod snapshot;
pub mod timeline;
