//! What is slow to learn about a binary, remembered per file: the answer
//! to `lightningd --version` (about 0.1 s a run, and `candidate` asks every
//! install) and the sha256 (for reports). Keyed by (canonical path, size,
//! mtime), so a rebuilt or replaced binary is probed again; kept in memory
//! for the process and in `<cache>/binary-facts.json` across runs.
//!
//! Hand-written: a JSON map with an atomic rename is all it takes, and no
//! cache crate keys on file identity.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Facts {
    #[serde(default)]
    version: BTreeMap<String, String>,
    #[serde(default)]
    sha256: BTreeMap<String, String>,
}

static MEMO: Mutex<Option<Facts>> = Mutex::new(None);

fn store_path() -> PathBuf {
    crate::paths::cache_root().join("binary-facts.json")
}

/// `path|size|mtime-ns`, or None when the file can't be stat'ed.
pub fn file_key(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Some(format!("{}|{}|{mtime}", canonical.display(), meta.len()))
}

fn with_facts<T>(f: impl FnOnce(&mut Facts) -> T) -> T {
    let mut guard = MEMO.lock().unwrap_or_else(|p| p.into_inner());
    let facts = guard.get_or_insert_with(|| {
        std::fs::read(store_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    });
    f(facts)
}

fn save() {
    // Forget files that are gone (rebuilt trees, test fakes), so the store stays small.
    let exists = |k: &String| k.split('|').next().is_some_and(|p| Path::new(p).exists());
    let Some(facts) = with_facts(|f| {
        f.version.retain(|k, _| exists(k));
        f.sha256.retain(|k, _| exists(k));
        serde_json::to_vec_pretty(f).ok()
    }) else {
        return;
    };
    let path = store_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Written whole, then renamed: a concurrent reader sees the old or the new file.
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    if std::fs::write(&tmp, facts).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// The remembered answer for `path`, or `compute` it (and remember an Ok).
pub fn version<E>(path: &Path, compute: impl FnOnce() -> Result<String, E>) -> Result<String, E> {
    remembered(path, |f| &mut f.version, compute)
}

pub fn sha256<E>(path: &Path, compute: impl FnOnce() -> Result<String, E>) -> Result<String, E> {
    remembered(path, |f| &mut f.sha256, compute)
}

fn remembered<E>(
    path: &Path,
    table: fn(&mut Facts) -> &mut BTreeMap<String, String>,
    compute: impl FnOnce() -> Result<String, E>,
) -> Result<String, E> {
    let Some(key) = file_key(path) else {
        return compute();
    };
    if let Some(v) = with_facts(|f| table(f).get(&key).cloned()) {
        return Ok(v);
    }
    let v = compute()?;
    with_facts(|f| table(f).insert(key, v.clone()));
    save();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_has_another_key() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lightningd");
        std::fs::write(&p, "one").unwrap();
        let k1 = file_key(&p).unwrap();
        std::fs::write(&p, "three").unwrap();
        assert_ne!(file_key(&p).unwrap(), k1, "size changed");
        assert_eq!(file_key(&d.path().join("missing")), None);
    }
}
