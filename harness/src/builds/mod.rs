//! Getting lightningd trees into the harness cache. `binaries` keeps
//! discovery; this module only writes installs, each published atomically
//! (unpacked beside its final place, checked, then renamed), one install
//! at a time per cache (a lock).
//!
//! - [`install`]: official release tarballs (or a mirror laid out like the
//!   release page), checked against the release's `SHA256SUMS`.

pub mod install;
