//! Deterministic node identity: each node's `hsm_secret` is derived from
//! its name, as pyln-testing does, so node ids are stable across runs and
//! snapshots. Pure except for [`write_if_absent`].

use crate::version::{ClnVersion, Features};
use std::io;
use std::path::Path;

/// The 32-byte seed: the name's bytes, zero-padded (truncated past 32).
pub fn seed_for(name: &str) -> [u8; 32] {
    let mut seed = [0u8; 32];
    let bytes = name.as_bytes();
    let n = bytes.len().min(32);
    seed[..n].copy_from_slice(&bytes[..n]);
    seed
}

/// The file contents in the format the creating binary expects:
/// before v25.12 the 32 raw seed bytes; from v25.12 32 zero bytes followed
/// by the BIP39 mnemonic of the seed's first 16 bytes.
pub fn hsm_secret_bytes(name: &str, version: &ClnVersion) -> Vec<u8> {
    let seed = seed_for(name);
    if !Features::of(version).mnemonic_hsm_secret {
        return seed.to_vec();
    }
    let mnemonic =
        bip39::Mnemonic::from_entropy(&seed[..16]).expect("16 bytes is valid BIP39 entropy");
    let mut out = vec![0u8; 32];
    out.extend_from_slice(mnemonic.to_string().as_bytes());
    out
}

/// Writes `<lightning-dir>/regtest/hsm_secret` unless it exists. An upgrade
/// must never rewrite it: newer binaries read the old format, and a
/// rewrite would change the node's identity.
pub fn write_if_absent(lightning_dir: &Path, name: &str, version: &ClnVersion) -> io::Result<bool> {
    let dir = lightning_dir.join("regtest");
    let path = dir.join("hsm_secret");
    if path.exists() {
        return Ok(false);
    }
    std::fs::create_dir_all(&dir)?;
    std::fs::write(&path, hsm_secret_bytes(name, version))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400))?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_format_is_the_padded_name() {
        let v = ClnVersion::parse("v25.05").unwrap();
        let b = hsm_secret_bytes("alice", &v);
        assert_eq!(b.len(), 32);
        assert_eq!(&b[..5], b"alice");
        assert!(b[5..].iter().all(|&x| x == 0));
    }

    #[test]
    fn mnemonic_format_from_v25_12() {
        let v = ClnVersion::parse("v26.06.6").unwrap();
        let b = hsm_secret_bytes("alice", &v);
        assert!(b[..32].iter().all(|&x| x == 0));
        let words = std::str::from_utf8(&b[32..]).unwrap();
        assert_eq!(words.split(' ').count(), 12);
    }

    #[test]
    fn never_rewrites_an_existing_secret() {
        let d = tempfile::tempdir().unwrap();
        let old = ClnVersion::parse("v25.02.1").unwrap();
        let new = ClnVersion::parse("v26.06.6").unwrap();
        assert!(write_if_absent(d.path(), "alice", &old).unwrap());
        assert!(!write_if_absent(d.path(), "alice", &new).unwrap());
        assert_eq!(
            std::fs::read(d.path().join("regtest/hsm_secret"))
                .unwrap()
                .len(),
            32
        );
    }
}
