//! Recorded fixtures: a run's state at one point (bitcoind's chain and each
//! node's lightning-dir) saved so later runs resume from it instead of
//! funding from scratch, and so a database written by an old release can be
//! opened by a candidate with only the candidate installed ("twins").
//!
//! A fixture is a directory `fixtures/NAME/` holding `fixture.json` (the
//! metadata, readable in review) and `state.tar.xz`: bitcoind's regtest
//! chain as bitcoind left it after a clean stop (`bitcoind/regtest/blocks`
//! and `chainstate`, so a resumed bitcoind starts on it at once instead of
//! having every block replayed) and each node's `lightningd.sqlite3`,
//! `hsm_secret` and `emergency.recover`. Logs, sockets, mempool, peers and
//! `gossip_store` (rebuilt by lightningd) stay out. Block files are
//! preallocated by bitcoind and mostly zeros: the archive holds each one up
//! to its last non-zero byte and its full length in the entry's name, and
//! restoring extends it back (a sparse file, no zeros written). Node ids and
//! the channel layout are the same on every recording: each node's identity
//! comes from its name ([`crate::hsm`]).

use crate::network::Network;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const META: &str = "fixture.json";
pub const STATE: &str = "state.tar.xz";
/// Files of a lightning-dir's `regtest/` a fixture keeps.
const NODE_FILES: &[&str] = &[
    "lightningd.sqlite3",
    "hsm_secret",
    "emergency.recover",
    "accounts.sqlite3",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureMeta {
    pub format: u32,
    pub name: String,
    /// The scenario and the last step that ran before recording.
    pub scenario: String,
    pub recorded_after_step: usize,
    pub harness_version: String,
    pub block_height: u64,
    /// The next unspent OP_TRUE coinbase (for `fund` steps after resuming).
    pub next_coinbase: u64,
    pub nodes: Vec<FixtureNode>,
    pub channels: Vec<FixtureChannel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureNode {
    pub name: String,
    pub role: String,
    /// `lightningd --version` of the binary that last wrote its database.
    pub version: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureChannel {
    pub from: String,
    pub to: String,
    pub short_channel_id: Option<String>,
    pub channel_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("fixture {dir}: {message}")]
    Bad { dir: PathBuf, message: String },
    #[error("recording the fixture: {0}")]
    Record(String),
    #[error("restoring the fixture: {0}")]
    Restore(String),
    #[error("node {node} was recorded by {recorded}, newer than the {binary} asked to open it: a downgrade, which lightningd refuses (record the fixture on the oldest binary that opens it)")]
    Downgrade {
        node: String,
        recorded: String,
        binary: String,
    },
}

/// `fixtures/NAME` in the scenario's directory or the nearest ancestor that has one.
pub fn find(name: &str, scenario_dir: &Path) -> Option<PathBuf> {
    scenario_dir
        .ancestors()
        .map(|d| d.join("fixtures").join(name))
        .find(|d| d.join(META).is_file())
}

pub fn load_meta(dir: &Path) -> Result<FixtureMeta, FixtureError> {
    let bad = |message: String| FixtureError::Bad {
        dir: dir.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(dir.join(META)).map_err(|e| bad(format!("{META}: {e}")))?;
    let meta: FixtureMeta = serde_json::from_str(&text).map_err(|e| bad(format!("{META}: {e}")))?;
    if meta.format != 1 {
        return Err(bad(format!(
            "format {} is not one this harness reads (1)",
            meta.format
        )));
    }
    Ok(meta)
}

/// Save the stopped network's state as a fixture: bitcoind is stopped too
/// (cleanly, so its chain state is on disk).
pub async fn record(
    net: &mut Network,
    out: &Path,
    mut meta: FixtureMeta,
) -> Result<FixtureMeta, FixtureError> {
    let err = |e: &dyn std::fmt::Display| FixtureError::Record(e.to_string());
    meta.block_height = net.bitcoind.block_count().map_err(|e| err(&e))?;
    meta.next_coinbase = net.bitcoind.next_coinbase();
    net.bitcoind.shut_down().map_err(|e| err(&e))?;
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, bytes: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        // A fixed mtime: the archive depends on the state only.
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, path, bytes)
    };
    let regtest = net.bitcoind.datadir.join("regtest");
    let mut chain_files = Vec::new();
    for sub in ["blocks", "chainstate"] {
        collect_files(&regtest.join(sub), &regtest, &mut chain_files).map_err(|e| err(&e))?;
    }
    chain_files.sort();
    for rel in chain_files {
        let bytes = std::fs::read(regtest.join(&rel)).map_err(|e| err(&e))?;
        let name = rel.to_string_lossy().into_owned();
        if is_block_file(&name) {
            let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            add(
                &format!("bitcoind/regtest/{name}{LENGTH_MARK}{}", bytes.len()),
                &bytes[..used],
                0o600,
            )
            .map_err(|e| err(&e))?;
        } else {
            add(&format!("bitcoind/regtest/{name}"), &bytes, 0o600).map_err(|e| err(&e))?;
        }
    }
    for n in &net.nodes {
        for f in NODE_FILES {
            if let Ok(bytes) = std::fs::read(n.dir.join("regtest").join(f)) {
                let mode = if *f == "hsm_secret" { 0o400 } else { 0o600 };
                add(&format!("nodes/{}/{f}", n.name), &bytes, mode).map_err(|e| err(&e))?;
            }
        }
    }
    let tar_bytes = tar.into_inner().map_err(|e| err(&e))?;
    // liblzma at preset 9: the databases are mostly empty pages (about 20x
    // smaller than lzma-rs's encoder, which stores more than it compresses).
    let mut xz = Vec::new();
    std::io::copy(
        &mut liblzma::read::XzEncoder::new(&tar_bytes[..], 9),
        &mut xz,
    )
    .map_err(|e| err(&e))?;
    // Written beside, then renamed: an interrupted recording leaves no half fixture.
    let staging = out.with_extension("recording");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| err(&e))?;
    std::fs::write(staging.join(STATE), xz).map_err(|e| err(&e))?;
    let json = serde_json::to_string_pretty(&meta).map_err(|e| err(&e))?;
    std::fs::write(staging.join(META), json + "\n").map_err(|e| err(&e))?;
    let _ = std::fs::remove_dir_all(out);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| err(&e))?;
    }
    std::fs::rename(&staging, out).map_err(|e| err(&e))?;
    Ok(meta)
}

/// `name@@LENGTH`: a block file stored up to its last non-zero byte.
const LENGTH_MARK: &str = "@@";

fn is_block_file(rel: &str) -> bool {
    let file = rel.rsplit('/').next().unwrap_or(rel);
    (file.starts_with("blk") || file.starts_with("rev")) && file.ends_with(".dat")
}

fn collect_files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect_files(&p, base, out)?;
        } else if p.file_name().is_some_and(|n| n != "LOCK" && n != ".lock") {
            out.push(p.strip_prefix(base).unwrap_or(&p).to_path_buf());
        }
    }
    Ok(())
}

/// The fixture's archive, unpacked in memory: (path, bytes).
fn entries(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, FixtureError> {
    let err = |e: &dyn std::fmt::Display| FixtureError::Restore(e.to_string());
    let xz = std::fs::read(dir.join(STATE))
        .map_err(|e| err(&format!("{}: {e}", dir.join(STATE).display())))?;
    let unxz = |e: &dyn std::fmt::Display| err(&format!("{STATE}: {e}"));
    let mut archive = tar::Archive::new(liblzma::read::XzDecoder::new(&xz[..]));
    let mut out = Vec::new();
    for entry in archive.entries().map_err(|e| unxz(&e))? {
        let mut entry = entry.map_err(|e| unxz(&e))?;
        let path = entry
            .path()
            .map_err(|e| err(&e))?
            .to_string_lossy()
            .into_owned();
        if path.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(err(&format!("unsafe entry {path}")));
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| unxz(&e))?;
        out.push((path, bytes));
    }
    // To the xz stream's end, past tar's last block: its check is there.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(|e| unxz(&e))?;
    Ok(out)
}

/// Refuse a release opening a database a newer release wrote.
pub fn check_versions(
    meta: &FixtureMeta,
    binaries: &[(String, crate::version::ClnVersion)],
) -> Result<(), FixtureError> {
    for (name, version) in binaries {
        let Some(rec) = meta.nodes.iter().find(|r| &r.name == name) else {
            continue;
        };
        // Only releases are ordered by their version: a master build after
        // v25.02 opens v25.02.1's database, though `v25.02-321-g...` sorts
        // below `v25.02.1`. Between others, lightningd's own refusal
        // ("Refusing to migrate down", an `error` too) decides.
        if let Some(recorded) = crate::version::ClnVersion::parse(&rec.version)
            .filter(|r| r.is_release() && version.is_release())
        {
            if &recorded > version {
                return Err(FixtureError::Downgrade {
                    node: name.clone(),
                    recorded: rec.version.clone(),
                    binary: version.raw.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Before bitcoind starts: its datadir from the fixture.
pub fn restore_chain(
    dir: &Path,
    bitcoind_dir: &Path,
) -> Result<Vec<(String, Vec<u8>)>, FixtureError> {
    let err = |e: &dyn std::fmt::Display| FixtureError::Restore(e.to_string());
    let mut nodes = Vec::new();
    for (path, bytes) in entries(dir)? {
        if let Some(rel) = path.strip_prefix("bitcoind/") {
            let (rel, length) = match rel.rsplit_once(LENGTH_MARK) {
                Some((r, l)) => (r, l.parse::<u64>().ok()),
                None => (rel, None),
            };
            let to = bitcoind_dir.join(rel);
            std::fs::create_dir_all(to.parent().unwrap_or(bitcoind_dir)).map_err(|e| err(&e))?;
            let f = std::fs::File::create(&to).map_err(|e| err(&e))?;
            std::io::Write::write_all(&mut &f, &bytes).map_err(|e| err(&e))?;
            if let Some(len) = length {
                f.set_len(len).map_err(|e| err(&e))?;
            }
        } else if path.starts_with("nodes/") {
            nodes.push((path, bytes));
        } else {
            return Err(err(&format!("unexpected entry {path}")));
        }
    }
    Ok(nodes)
}

/// After bitcoind started on the fixture's chain: each node's files in its
/// lightning-dir (nodes the scenario does not declare stay in the archive).
pub fn restore_nodes(
    net: &mut Network,
    node_files: &[(String, Vec<u8>)],
    meta: &FixtureMeta,
) -> Result<(), FixtureError> {
    let err = |e: &dyn std::fmt::Display| FixtureError::Restore(e.to_string());
    for (path, bytes) in node_files {
        let parts: Vec<&str> = path.split('/').collect();
        let ["nodes", node, file] = parts.as_slice() else {
            return Err(err(&format!("unexpected entry {path}")));
        };
        if !NODE_FILES.contains(file) {
            return Err(err(&format!("unexpected entry {path}")));
        }
        let Ok(n) = net.node(node) else { continue };
        let to = n.dir.join("regtest").join(file);
        std::fs::create_dir_all(to.parent().unwrap_or(Path::new("."))).map_err(|e| err(&e))?;
        std::fs::write(&to, bytes).map_err(|e| err(&e))?;
        if *file == "hsm_secret" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o400))
                .map_err(|e| err(&e))?;
        }
    }
    let height = net.bitcoind.block_count().map_err(|e| err(&e))?;
    if height != meta.block_height {
        return Err(err(&format!(
            "bitcoind is at height {height} on the fixture's chain, the fixture says {}",
            meta.block_height
        )));
    }
    net.bitcoind.set_next_coinbase(meta.next_coinbase);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> FixtureMeta {
        FixtureMeta {
            format: 1,
            name: "t".into(),
            scenario: "s".into(),
            recorded_after_step: 1,
            harness_version: "0.1.0".into(),
            block_height: 110,
            next_coinbase: 3,
            nodes: vec![FixtureNode {
                name: "alice".into(),
                role: "base".into(),
                version: "v25.02.1".into(),
                id: "02aa".into(),
            }],
            channels: vec![FixtureChannel {
                from: "alice".into(),
                to: "bob".into(),
                short_channel_id: Some("103x1x0".into()),
                channel_id: "ab".into(),
            }],
        }
    }

    #[test]
    fn fixtures_are_found_beside_the_scenario_or_above_it() {
        let root = tempfile::tempdir().unwrap();
        let fx = root.path().join("fixtures/twin");
        std::fs::create_dir_all(&fx).unwrap();
        std::fs::write(fx.join(META), serde_json::to_string(&meta()).unwrap()).unwrap();
        let deep = root.path().join("scenarios/twins");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find("twin", &deep), Some(fx.clone()));
        assert_eq!(find("other", &deep), None);
        assert_eq!(load_meta(&fx).unwrap(), meta());
        std::fs::write(
            fx.join(META),
            serde_json::to_string(&FixtureMeta {
                format: 9,
                ..meta()
            })
            .unwrap(),
        )
        .unwrap();
        assert!(load_meta(&fx).unwrap_err().to_string().contains("format 9"));
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;
    use crate::version::ClnVersion;

    #[test]
    fn a_release_never_opens_what_a_newer_release_recorded() {
        let mut m = FixtureMeta {
            format: 1,
            name: "t".into(),
            scenario: "s".into(),
            recorded_after_step: 1,
            harness_version: "0.1.0".into(),
            block_height: 1,
            next_coinbase: 1,
            nodes: vec![FixtureNode {
                name: "alice".into(),
                role: "base".into(),
                version: "v25.05".into(),
                id: "02".into(),
            }],
            channels: vec![],
        };
        let v = |s: &str| ClnVersion::parse(s).unwrap();
        let e = check_versions(&m, &[("alice".into(), v("v25.02.1"))])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("node alice was recorded by v25.05, newer than the v25.02.1")
                && e.contains("downgrade"),
            "{e}"
        );
        assert!(check_versions(&m, &[("alice".into(), v("v25.05"))]).is_ok());
        assert!(check_versions(&m, &[("alice".into(), v("v26.06.6"))]).is_ok());
        // A master build is judged by lightningd itself: v25.02-321 opens v25.02.1's DB.
        m.nodes[0].version = "v25.02.1".into();
        assert!(check_versions(&m, &[("alice".into(), v("v25.02-321-g1cc64dd67"))]).is_ok());
    }
}
