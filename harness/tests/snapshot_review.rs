//! A snapshot under the top-level `snapshots/` that needs no binaries: the
//! log digest of a recorded #8269 crash. `ci/check-insta-review.sh` makes it
//! differ and checks that `cargo insta pending-snapshots --workspace` lists
//! the `.snap.new` this test then writes (the review flow of the real
//! matrix snapshots, which live in the same folder).

use cln_harness::evidence::logdigest::{digest, Phase};
use cln_harness::evidence::redact::Redactor;
use std::path::PathBuf;

#[test]
fn log_digest_of_a_recorded_8269_crash() {
    let root = std::fs::canonicalize(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap();
    let read =
        |rel: &str| std::fs::read_to_string(root.join("fixtures/evidence").join(rel)).unwrap();
    let (upgrade, tail, stderr) = (
        read("8269/alice-log-upgrade.txt"),
        read("8269/alice-log-tail.txt"),
        read("8269/alice-stderr.txt"),
    );
    let phases = [
        Phase {
            label: "start 2 on 1cc64dd67 (migration)".into(),
            log: &upgrade,
            stderr: "",
        },
        Phase {
            label: "start 2 on 1cc64dd67 (crash)".into(),
            log: &tail,
            stderr: &stderr,
        },
    ];
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::assert_json_snapshot!(
            "fixture-8269-alice__log",
            digest("alice", &phases, &Redactor::new())
        )
    });
}
