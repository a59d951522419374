//! Empty on purpose: this package exists so that cargo-insta scans the
//! repository root and finds `snapshots/*.snap.new` (see the root Cargo.toml).
