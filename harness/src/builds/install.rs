//! `cln-harness install LABEL...`: Core Lightning's official release
//! tarball for this platform, from the project's GitHub releases (or a
//! mirror / local directory laid out the same way: `<base>/<tag>/<file>`),
//! verified against the release's `SHA256SUMS-<tag>` and unpacked into
//! `<cache>/releases/<tag>/`, where discovery finds `usr/bin/lightningd`.
//!
//! The pure parts (platform → asset names, `SHA256SUMS` parsing) are
//! separate from the IO (fetching, unpacking, publishing) so they are
//! tested without a network.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The release page downloads: `<base>/<tag>/<file>`.
pub const GITHUB_DOWNLOADS: &str = "https://github.com/ElementsProject/lightning/releases/download";
/// CLN's repository files at a tag: `<raw>/<tag>/<path>`.
pub const GITHUB_RAW: &str = "https://raw.githubusercontent.com/ElementsProject/lightning";
/// Redirects to the newest release's tag page.
pub const GITHUB_LATEST: &str = "https://github.com/ElementsProject/lightning/releases/latest";

/// Where release files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseSource {
    /// `<base>/<tag>/<file>` over HTTP(S).
    Url(String),
    /// `<dir>/<tag>/<file>` on disk.
    Dir(PathBuf),
}

impl ReleaseSource {
    /// `--from`: a URL (`http://`, `https://`) or a directory.
    pub fn parse(from: Option<&str>) -> ReleaseSource {
        match from {
            None => ReleaseSource::Url(GITHUB_DOWNLOADS.into()),
            Some(s) if s.starts_with("http://") || s.starts_with("https://") => {
                ReleaseSource::Url(s.trim_end_matches('/').into())
            }
            Some(s) => ReleaseSource::Dir(PathBuf::from(s)),
        }
    }

    fn describe(&self, tag: &str, file: &str) -> String {
        match self {
            ReleaseSource::Url(base) => format!("{base}/{tag}/{file}"),
            ReleaseSource::Dir(d) => d.join(tag).join(file).display().to_string(),
        }
    }

    /// The file's bytes, or None when the source has no such file.
    fn fetch(&self, tag: &str, file: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            ReleaseSource::Dir(d) => match std::fs::read(d.join(tag).join(file)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.to_string()),
            },
            ReleaseSource::Url(base) => {
                http_get(&format!("{base}/{tag}/{file}")).map(|r| r.map(|(body, _)| body))
            }
        }
    }

    /// A maintainer key file (`contrib/keys/<name>` in CLN's repository at
    /// `tag`; `<base>/keys/<name>` on a mirror or directory), or None.
    fn fetch_key(&self, tag: &str, name: &str) -> Option<Vec<u8>> {
        match self {
            ReleaseSource::Url(base) if base == GITHUB_DOWNLOADS => {
                http_get(&format!("{GITHUB_RAW}/{tag}/contrib/keys/{name}"))
                    .ok()
                    .flatten()
                    .map(|(b, _)| b)
            }
            ReleaseSource::Url(base) => http_get(&format!("{base}/keys/{name}"))
                .ok()
                .flatten()
                .map(|(b, _)| b),
            ReleaseSource::Dir(d) => std::fs::read(d.join("keys").join(name)).ok(),
        }
    }

    /// `latest`: the newest release's tag. From GitHub, where the "latest"
    /// page redirects to `.../tag/<tag>`; from a mirror or directory, a file
    /// named `latest` holding the tag.
    fn latest(&self) -> Result<String, String> {
        let (body, url) = match self {
            ReleaseSource::Url(base) if base == GITHUB_DOWNLOADS => {
                http_get(GITHUB_LATEST)?.ok_or("no latest release page")?
            }
            ReleaseSource::Url(base) => {
                http_get(&format!("{base}/latest"))?.ok_or("the mirror has no `latest` file")?
            }
            ReleaseSource::Dir(d) => (
                std::fs::read(d.join("latest"))
                    .map_err(|e| format!("{}: {e}", d.join("latest").display()))?,
                String::new(),
            ),
        };
        if let Some(tag) = url.rsplit_once("/tag/").map(|(_, t)| t.to_string()) {
            return Ok(tag);
        }
        let text = String::from_utf8_lossy(&body).trim().to_string();
        if text.starts_with('v') && text.len() < 40 && !text.contains(char::is_whitespace) {
            Ok(text)
        } else {
            Err("could not tell the latest release's tag".into())
        }
    }
}

/// GET with redirects; Ok(None) on 404. Returns the body and the final URL.
fn http_get(url: &str) -> Result<Option<(Vec<u8>, String)>, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(300))
        .build();
    match agent.get(url).call() {
        Ok(resp) => {
            let final_url = resp.get_url().to_string();
            let mut body = Vec::new();
            resp.into_reader()
                .read_to_end(&mut body)
                .map_err(|e| e.to_string())?;
            Ok(Some((body, final_url)))
        }
        Err(ureq::Error::Status(404, _)) => Ok(None),
        // ureq's message starts with the URL, which the caller already names.
        Err(e) => Err(e
            .to_string()
            .trim_start_matches(&format!("{url}: "))
            .to_string()),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("install {tag}: {kind}")]
pub struct InstallError {
    pub tag: String,
    #[source]
    pub kind: InstallErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallErrorKind {
    #[error("{0}")]
    Platform(String),
    #[error("fetching {what}: {message}")]
    Fetch { what: String, message: String },
    #[error("the release has no tarball for {platform} (looked for {tried}); pass --platform to pick another")]
    NoTarball { platform: String, tried: String },
    #[error("{sums}.asc: {message}: refusing the release, nothing installed")]
    Signature { sums: String, message: String },
    #[error("{asset} is not listed in {sums}: refusing an unverified tarball")]
    NotInSums { asset: String, sums: String },
    #[error(
        "{asset}: sha256 {got} does not match {want} in SHA256SUMS: refusing it, nothing installed"
    )]
    HashMismatch {
        asset: String,
        want: String,
        got: String,
    },
    #[error("unpacking {asset}: {message}")]
    Unpack { asset: String, message: String },
    #[error("the unpacked tree is not a usable {tag}: {message}")]
    NotThatRelease { tag: String, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("creating {path}: {why}")]
    CreateDir {
        path: std::path::PathBuf,
        why: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] super::CacheLockError),
}

/// The platform name CLN's release tarballs use, from `/etc/os-release`'s
/// text and the machine's architecture. CLN publishes Ubuntu builds (and
/// Fedora ones as .tar.gz); Debian runs the Ubuntu build of the same
/// glibc generation.
pub fn platform_from_os_release(os_release: &str, arch: &str) -> Result<String, String> {
    let field = |k: &str| {
        os_release
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
    };
    if arch != "x86_64" && arch != "amd64" {
        return Err(format!("no official CLN release tarballs for {arch}; use `cln-harness build` or point --lightningd at your own build"));
    }
    let (id, version) = (
        field("ID").unwrap_or_default(),
        field("VERSION_ID").unwrap_or_default(),
    );
    match (id.as_str(), version.as_str()) {
        ("ubuntu", v) if !v.is_empty() => Ok(format!("Ubuntu-{v}")),
        ("debian", "12") => Ok("Ubuntu-22.04".into()),
        ("debian", "13") => Ok("Ubuntu-24.04".into()),
        _ => Err(format!("no official CLN release tarball is known to run on {id} {version}; pass --platform (e.g. Ubuntu-22.04) or build from a checkout")),
    }
}

/// Tarball names to look for, newest naming first (`-amd64` was added in 2023).
pub fn asset_names(tag: &str, platform: &str) -> Vec<String> {
    vec![
        format!("clightning-{tag}-{platform}-amd64.tar.xz"),
        format!("clightning-{tag}-{platform}.tar.xz"),
    ]
}

/// `<hex>  <name>` lines (and `<hex> *<name>`), as sha256sum writes them.
pub fn parse_sha256sums(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (hash, name) = l.trim().split_once(char::is_whitespace)?;
            let name = name.trim().trim_start_matches('*');
            (hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| (hash.to_ascii_lowercase(), name.to_string()))
        })
        .collect()
}

/// What one install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    New {
        tag: String,
        dir: PathBuf,
        asset: String,
        signatures: super::signatures::Signatures,
    },
    AlreadyThere {
        tag: String,
        dir: PathBuf,
    },
}

/// The release's signatures over its `SHA256SUMS`: checked where gpg, the
/// `.asc` and maintainer keys (from `keys_dir`, else the source) are there.
fn check_signatures(
    source: &ReleaseSource,
    tag: &str,
    sums: &[u8],
    keys_dir: Option<&Path>,
) -> Result<super::signatures::Signatures, String> {
    use super::signatures::{verify, Signatures, KEY_FILES};
    if !super::signatures::gpg_available() {
        return Ok(Signatures::NotChecked("gpg is not installed".into()));
    }
    let asc = format!("SHA256SUMS-{tag}.asc");
    let Some(sig) = source
        .fetch(tag, &asc)
        .map_err(|m| format!("fetching {}: {m}", source.describe(tag, &asc)))?
    else {
        return Ok(Signatures::NotChecked(format!(
            "the release publishes no {asc}"
        )));
    };
    let keys: Vec<Vec<u8>> = match keys_dir {
        Some(d) => std::fs::read_dir(d)
            .map_err(|e| format!("--keys {}: {e}", d.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "txt" || x == "asc"))
            .filter_map(|p| std::fs::read(p).ok())
            .collect(),
        None => KEY_FILES
            .iter()
            .filter_map(|k| source.fetch_key(tag, k))
            .collect(),
    };
    if keys.is_empty() {
        return Ok(Signatures::NotChecked("no maintainer keys could be fetched (pass --keys DIR, e.g. a CLN checkout's contrib/keys)".into()));
    }
    verify(sums, &sig, &keys)
}

/// Install `label` (a tag, or `latest`) into `<cache_root>/releases/<tag>`.
pub fn install(
    label: &str,
    source: &ReleaseSource,
    platform: &str,
    cache_root: &Path,
    keys_dir: Option<&Path>,
) -> Result<Installed, InstallError> {
    let err = |tag: &str, kind: InstallErrorKind| InstallError {
        tag: tag.to_string(),
        kind,
    };
    let tag = if label == "latest" {
        source.latest().map_err(|m| {
            err(
                label,
                InstallErrorKind::Fetch {
                    what: "the latest release".into(),
                    message: m,
                },
            )
        })?
    } else {
        label.to_string()
    };
    let releases = cache_root.join("releases");
    std::fs::create_dir_all(&releases).map_err(|source| {
        err(
            &tag,
            InstallErrorKind::CreateDir {
                why: crate::userdirs::explain_io(
                    &releases,
                    &source,
                    crate::userdirs::Access::Create,
                ),
                path: releases.clone(),
                source,
            },
        )
    })?;
    let _lock = super::CacheLock::acquire(&releases.join(".install.lock"))
        .map_err(|e| err(&tag, e.into()))?;
    let dest = releases.join(&tag);
    if dest.join("usr/bin/lightningd").is_file() {
        return Ok(Installed::AlreadyThere { tag, dir: dest });
    }
    let sums_name = format!("SHA256SUMS-{tag}");
    let fetch_err =
        |what: String, message: String| err(&tag, InstallErrorKind::Fetch { what, message });
    let sums = source
        .fetch(&tag, &sums_name)
        .map_err(|m| fetch_err(source.describe(&tag, &sums_name), m))?
        .ok_or_else(|| {
            fetch_err(
                source.describe(&tag, &sums_name),
                "not found (is the tag right?)".into(),
            )
        })?;
    let signatures = check_signatures(source, &tag, &sums, keys_dir).map_err(|message| {
        err(
            &tag,
            InstallErrorKind::Signature {
                sums: sums_name.clone(),
                message,
            },
        )
    })?;
    let sums = parse_sha256sums(&String::from_utf8_lossy(&sums));
    let (asset, bytes) = fetch_verified_tarball(source, &tag, platform, &sums, &sums_name)
        .map_err(|k| err(&tag, k))?;
    // Unpack beside the destination, check, then publish with one rename.
    let partial = releases.join(format!(".{tag}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    let unpacked = unpack_tar_xz(&bytes, &partial).map_err(|m| InstallErrorKind::Unpack {
        asset: asset.clone(),
        message: m,
    });
    let checked = unpacked.and_then(|()| check_tree(&partial, &tag));
    if let Err(kind) = checked {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(err(&tag, kind));
    }
    std::fs::rename(&partial, &dest).map_err(|e| {
        let _ = std::fs::remove_dir_all(&partial);
        err(&tag, e.into())
    })?;
    Ok(Installed::New {
        tag,
        dir: dest,
        asset,
        signatures,
    })
}

/// Decompress straight into `tar` (the tarball is never held unpacked in
/// memory), then read the xz stream to its end: `tar` stops at its
/// end-of-archive blocks, before the xz footer whose check would catch a
/// damaged tail.
fn unpack_tar_xz(bytes: &[u8], into: &Path) -> Result<(), String> {
    std::fs::create_dir_all(into).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(liblzma::read::XzDecoder::new_multi_decoder(bytes));
    // `unpack` refuses entries that would land outside `into`.
    archive.unpack(into).map_err(|e| e.to_string())?;
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
        .map(|_| ())
        .map_err(|e| format!("not xz: {e}"))
}

/// The first of the platform's tarball names the release has, checked
/// against its line in `SHA256SUMS`: (asset name, bytes).
fn fetch_verified_tarball(
    source: &ReleaseSource,
    tag: &str,
    platform: &str,
    sums: &[(String, String)],
    sums_name: &str,
) -> Result<(String, Vec<u8>), InstallErrorKind> {
    let names = asset_names(tag, platform);
    let mut found = None;
    for name in &names {
        let fetched = source
            .fetch(tag, name)
            .map_err(|message| InstallErrorKind::Fetch {
                what: source.describe(tag, name),
                message,
            })?;
        if let Some(bytes) = fetched {
            found = Some((name.clone(), bytes));
            break;
        }
    }
    let (asset, bytes) = found.ok_or_else(|| InstallErrorKind::NoTarball {
        platform: platform.into(),
        tried: names.join(", "),
    })?;
    let want = sums
        .iter()
        .find(|(_, n)| *n == asset)
        .map(|(h, _)| h.clone())
        .ok_or_else(|| InstallErrorKind::NotInSums {
            asset: asset.clone(),
            sums: sums_name.into(),
        })?;
    let got = hex::encode(Sha256::digest(&bytes));
    if got != want {
        return Err(InstallErrorKind::HashMismatch { asset, want, got });
    }
    Ok((asset, bytes))
}

/// The tree must hold a lightningd that says it is `tag`.
fn check_tree(root: &Path, tag: &str) -> Result<(), InstallErrorKind> {
    let bin = root.join("usr/bin/lightningd");
    let not = |message: String| InstallErrorKind::NotThatRelease {
        tag: tag.into(),
        message,
    };
    if !bin.is_file() {
        return Err(not("no usr/bin/lightningd in the tarball".into()));
    }
    let version = crate::binaries::probe(&bin).map_err(|e| not(e.to_string()))?;
    if !crate::binaries::label_matches(tag, &version) {
        return Err(not(format!("its lightningd says {version}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_from_os_release() {
        let debian12 =
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";
        assert_eq!(
            platform_from_os_release(debian12, "x86_64").unwrap(),
            "Ubuntu-22.04"
        );
        let ubuntu = "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"24.04\"\n";
        assert_eq!(
            platform_from_os_release(ubuntu, "x86_64").unwrap(),
            "Ubuntu-24.04"
        );
        assert!(
            platform_from_os_release("ID=alpine\nVERSION_ID=3.20\n", "x86_64")
                .unwrap_err()
                .contains("--platform")
        );
        assert!(platform_from_os_release(ubuntu, "aarch64")
            .unwrap_err()
            .contains("aarch64"));
    }

    #[test]
    fn asset_names_and_sums() {
        assert_eq!(
            asset_names("v25.05", "Ubuntu-22.04")[0],
            "clightning-v25.05-Ubuntu-22.04-amd64.tar.xz"
        );
        let h = "a".repeat(64);
        let sums = parse_sha256sums(&format!(
            "{h}  clightning-v25.05-Ubuntu-22.04-amd64.tar.xz\n{}  *x.zip\nnot a line\n",
            "B".repeat(64)
        ));
        assert_eq!(
            sums,
            [
                (h, "clightning-v25.05-Ubuntu-22.04-amd64.tar.xz".into()),
                ("b".repeat(64), "x.zip".into())
            ]
        );
    }

    /// A tar.xz holding `usr/bin/lightningd`.
    fn tar_xz() -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, "usr/bin/lightningd", &b"#!\n"[..])
            .unwrap();
        let mut xz = Vec::new();
        let tar_bytes = tar.into_inner().unwrap();
        std::io::copy(
            &mut liblzma::read::XzEncoder::new(&tar_bytes[..], 6),
            &mut xz,
        )
        .unwrap();
        xz
    }

    #[test]
    fn a_tarball_unpacks_as_it_streams() {
        let dir = tempfile::tempdir().unwrap();
        unpack_tar_xz(&tar_xz(), dir.path()).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("usr/bin/lightningd")).unwrap(),
            b"#!\n"
        );
    }

    #[test]
    fn a_damaged_xz_footer_is_refused_though_tar_read_all_it_wanted() {
        // The last bytes are the stream footer's magic `YZ`: past the tar
        // archive's end, so only reading the xz stream to its end sees them.
        let mut xz = tar_xz();
        let last = xz.len() - 1;
        xz[last] ^= 0xff;
        let dir = tempfile::tempdir().unwrap();
        let e = unpack_tar_xz(&xz, dir.path()).unwrap_err();
        assert!(e.starts_with("not xz"), "{e}");
    }

    #[test]
    fn bytes_that_are_not_xz_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(unpack_tar_xz(b"plain text, not xz", dir.path()).is_err());
    }

    #[test]
    fn sources_from_the_command_line() {
        assert_eq!(
            ReleaseSource::parse(None),
            ReleaseSource::Url(GITHUB_DOWNLOADS.into())
        );
        assert_eq!(
            ReleaseSource::parse(Some("http://127.0.0.1:8/rel/")),
            ReleaseSource::Url("http://127.0.0.1:8/rel".into())
        );
        assert_eq!(
            ReleaseSource::parse(Some("/srv/mirror")),
            ReleaseSource::Dir("/srv/mirror".into())
        );
    }
}
