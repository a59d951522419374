//! `cln-harness install` end to end against a release page served on
//! loopback (no internet): the tests build the release themselves, a
//! tarball of a fake install tree plus its `SHA256SUMS`, as CLN publishes.

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tar.xz of `usr/bin/lightningd` (a script printing `version`).
fn tarball(version: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let script = format!("#!/bin/sh\necho {version}\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(script.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, "usr/bin/lightningd", script.as_bytes())
        .unwrap();
    let tar_bytes = tar.into_inner().unwrap();
    let mut xz = Vec::new();
    std::io::copy(
        &mut liblzma::read::XzEncoder::new(&tar_bytes[..], 6),
        &mut xz,
    )
    .unwrap();
    xz
}

/// `<root>/<tag>/clightning-<tag>-<platform>-amd64.tar.xz` and `SHA256SUMS-<tag>`.
fn release(root: &Path, tag: &str, platform: &str, corrupt: bool) {
    let dir = root.join(tag);
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("clightning-{tag}-{platform}-amd64.tar.xz");
    let bytes = tarball(tag);
    std::fs::write(
        dir.join(format!("SHA256SUMS-{tag}")),
        format!("{}  {name}\n", hex::encode(Sha256::digest(&bytes))),
    )
    .unwrap();
    let mut served = bytes;
    if corrupt {
        let last = served.len() - 1;
        served[last] ^= 0xff;
    }
    std::fs::write(dir.join(name), served).unwrap();
}

/// A minimal HTTP/1.1 file server on 127.0.0.1 (GET only; 404 otherwise).
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let path = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let mut out = stream;
            match std::fs::read(root.join(&path)) {
                Ok(body) => {
                    let _ = write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = out.write_all(&body);
                }
                Err(_) => {
                    let _ = write!(
                        out,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            }
        }
    });
    format!("http://{addr}")
}

fn harness(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cln-harness"))
        .args(args)
        .env("CLN_HARNESS_CACHE", cache)
        .output()
        .unwrap()
}

/// `install v25.05 --from URL --platform Ubuntu-22.04` into `cache`.
fn install_v25_05(cache: &Path, url: &str) -> Output {
    harness(
        cache,
        &[
            "install",
            "v25.05",
            "--from",
            url,
            "--platform",
            "Ubuntu-22.04",
        ],
    )
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A served v25.05 release for Ubuntu-22.04 (its tarball corrupted if asked),
/// a fresh cache, and the release page's URL.
fn served_release(corrupt: bool) -> (tempfile::TempDir, tempfile::TempDir, String) {
    let (site, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    release(site.path(), "v25.05", "Ubuntu-22.04", corrupt);
    let url = serve(site.path().to_path_buf());
    (site, cache, url)
}

#[test]
fn a_verified_release_is_installed_where_discovery_finds_it() {
    let (_site, cache, url) = served_release(false);
    let o = install_v25_05(cache.path(), &url);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !gpg_present()
            || text(&o)
                .contains("signatures not checked: the release publishes no SHA256SUMS-v25.05.asc"),
        "{}",
        text(&o)
    );
    assert!(cache
        .path()
        .join("releases/v25.05/usr/bin/lightningd")
        .is_file());
    // Discovery now answers the label with the installed tree.
    let o = harness(
        cache.path(),
        &["binaries", "--lightningd", "candidate=v25.05"],
    );
    assert!(
        text(&o).contains("releases/v25.05/usr/bin/lightningd"),
        "{}",
        text(&o)
    );
    // Installing again is a no-op.
    let o = install_v25_05(cache.path(), &url);
    assert!(
        o.status.success() && text(&o).contains("already installed"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_corrupted_tarball_is_refused_and_nothing_is_installed() {
    let (_site, cache, url) = served_release(true);
    let o = install_v25_05(cache.path(), &url);
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    assert!(
        text(&o).contains("does not match") && text(&o).contains("nothing installed"),
        "{}",
        text(&o)
    );
    let left: Vec<_> = std::fs::read_dir(cache.path().join("releases"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != ".install.lock")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_missing_platform_is_a_clear_error() {
    let (_site, cache, url) = served_release(false);
    let o = harness(
        cache.path(),
        &[
            "install",
            "v25.05",
            "--from",
            &url,
            "--platform",
            "Fedora-40",
        ],
    );
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    assert!(
        text(&o).contains("no tarball for Fedora-40") && text(&o).contains("--platform"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_local_directory_and_latest_work_offline() {
    let (site, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    release(site.path(), "v26.06.6", "Ubuntu-22.04", false);
    std::fs::write(site.path().join("latest"), "v26.06.6\n").unwrap();
    let from = site.path().display().to_string();
    let o = harness(
        cache.path(),
        &[
            "install",
            "latest",
            "--from",
            &from,
            "--platform",
            "Ubuntu-22.04",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(cache
        .path()
        .join("releases/v26.06.6/usr/bin/lightningd")
        .is_file());
}

#[test]
fn no_network_is_an_environment_error() {
    let cache = tempfile::tempdir().unwrap();
    // Nothing listens on port 9 of loopback.
    let o = harness(
        cache.path(),
        &[
            "install",
            "v25.05",
            "--from",
            "http://127.0.0.1:9",
            "--platform",
            "Ubuntu-22.04",
        ],
    );
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    assert!(text(&o).contains("fetching"), "{}", text(&o));
}

/// A throwaway maintainer key (no passphrase) in its own keyring; returns
/// the keyring dir and the armored public key.
fn maintainer_key() -> (tempfile::TempDir, Vec<u8>) {
    let home = tempfile::tempdir().unwrap();
    let gpg = |args: &[&str]| {
        let o = Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    gpg(&[
        "--quick-gen-key",
        "Test Maintainer <maintainer@example.com>",
        "ed25519",
        "sign",
        "never",
    ]);
    let public = gpg(&["--armor", "--export", "maintainer@example.com"]);
    (home, public)
}

fn sign(keyring: &Path, file: &Path) {
    let o = Command::new("gpg")
        .arg("--homedir")
        .arg(keyring)
        .args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--armor",
            "--detach-sign",
            "--output",
        ])
        .arg(format!("{}.asc", file.display()))
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn gpg_present() -> bool {
    cln_harness::builds::signatures::gpg_available()
}

/// The release's SHA256SUMS signed by a maintainer whose key the mirror
/// publishes under `keys/`, as CLN's repository does under `contrib/keys/`.
#[test]
fn a_signed_release_is_checked_against_the_maintainers_keys() {
    let (site, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    release(site.path(), "v25.05", "Ubuntu-22.04", false);
    let args = |url: &str| {
        vec![
            "install".to_string(),
            "v25.05".into(),
            "--from".into(),
            url.to_string(),
            "--platform".into(),
            "Ubuntu-22.04".into(),
        ]
    };
    if !gpg_present() {
        // Said, never silently taken for checked.
        let url = serve(site.path().to_path_buf());
        let o = harness(
            cache.path(),
            &args(&url).iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(
            text(&o).contains("signatures not checked: gpg is not installed"),
            "{}",
            text(&o)
        );
        return;
    }
    let (keyring, public) = maintainer_key();
    std::fs::create_dir_all(site.path().join("keys")).unwrap();
    std::fs::write(site.path().join("keys/cln.txt"), public).unwrap();
    sign(
        keyring.path(),
        &site.path().join("v25.05/SHA256SUMS-v25.05"),
    );
    let url = serve(site.path().to_path_buf());
    let o = harness(
        cache.path(),
        &args(&url).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(
            "signatures checked: good signature from Test Maintainer <maintainer@example.com>"
        ),
        "{}",
        text(&o)
    );
}

/// SHA256SUMS changed after it was signed (a tampered mirror): refused,
/// nothing installed, even though the tarball matches the changed sums.
#[test]
fn a_release_whose_signature_does_not_verify_is_refused() {
    if !gpg_present() {
        eprintln!("gpg is not installed: the refusal cannot be exercised (the checked-or-said test covers this machine)");
        return;
    }
    let (site, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    release(site.path(), "v25.05", "Ubuntu-22.04", false);
    let (keyring, public) = maintainer_key();
    std::fs::create_dir_all(site.path().join("keys")).unwrap();
    std::fs::write(site.path().join("keys/cln.txt"), public).unwrap();
    let sums = site.path().join("v25.05/SHA256SUMS-v25.05");
    sign(keyring.path(), &sums);
    let mut text_sums = std::fs::read_to_string(&sums).unwrap();
    text_sums.push_str(&format!(
        "{}  clightning-v25.05-Fedora-40-amd64.tar.gz\n",
        "ab".repeat(32)
    ));
    std::fs::write(&sums, text_sums).unwrap();
    let url = serve(site.path().to_path_buf());
    let o = install_v25_05(cache.path(), &url);
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    assert!(
        text(&o).contains("SHA256SUMS-v25.05.asc: BAD signature")
            && text(&o).contains("nothing installed"),
        "{}",
        text(&o)
    );
    assert!(!cache.path().join("releases/v25.05").exists());
    // Signed by a key that is not a maintainer's: refused too, saying how to add keys.
    let (stranger, _) = maintainer_key();
    sign(stranger.path(), &sums);
    let o = install_v25_05(cache.path(), &url);
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    assert!(
        text(&o).contains("not among the maintainers'") && text(&o).contains("--keys DIR"),
        "{}",
        text(&o)
    );
}
