//! Everything read after the fact: logs, signatures, timeline, database
//! snapshots, check-db. Never touches a running node's database.

pub mod redact;
pub mod signatures;
pub mod timeline;
