//! Which lightningd (and bitcoind) a role or version label means.
//!
//! A node asks for a *role* (`candidate`, `base`, any name) or a *version
//! label* (`v25.05`, `1cc64dd67`). Every discovery source sits in one
//! ordered list ([`Discovery::sources_for`]); the first hit wins. A label is
//! confirmed by running `lightningd --version`, never trusted from a
//! directory name. lightningd always runs inside its install tree, since
//! it finds its subdaemons relative to its own binary.

mod memo;
mod probe;
pub use probe::{probe, ProbeError};

use crate::paths;
use crate::version::ClnVersion;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a binary was found; shown by `cln-harness binaries` and in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    CommandLine,
    Env(String),
    ConfigFile(PathBuf),
    Cache,
    Clnvm,
    ReleaseTarball,
    Path,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::CommandLine => write!(f, "--lightningd"),
            Source::Env(var) => write!(f, "${var}"),
            Source::ConfigFile(p) => write!(f, "{}", p.display()),
            Source::Cache => write!(f, "harness cache"),
            Source::Clnvm => write!(f, "clnvm cache"),
            Source::ReleaseTarball => write!(f, "release tarball tree"),
            Source::Path => write!(f, "PATH"),
        }
    }
}

/// A lightningd that answered `--version`.
#[derive(Debug, Clone)]
pub struct Lightningd {
    /// The role or label that was asked for.
    pub request: String,
    pub source: Source,
    pub path: PathBuf,
    pub version: ClnVersion,
}

impl Lightningd {
    pub fn bin_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }
    /// `lightning-cli` from the same install tree (for copy-paste commands).
    pub fn lightning_cli(&self) -> PathBuf {
        self.bin_dir().join("lightning-cli")
    }
    pub fn sha256(&self) -> std::io::Result<String> {
        sha256_file(&self.path)
    }
}

/// `path|size|mtime-ns`: which build of a file this is, without reading it.
pub fn file_identity(path: &Path) -> Option<String> {
    memo::file_key(path)
}

/// The file's sha256, remembered per (path, size, mtime).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    memo::sha256(path, || {
        std::fs::read(path).map(|bytes| hex::encode(Sha256::digest(&bytes)))
    })
}

#[derive(Debug, thiserror::Error)]
#[error("no lightningd for `{request}`: {}", tried.join("; "))]
pub struct ResolveError {
    pub request: String,
    /// One line per source consulted, saying why it did not answer.
    pub tried: Vec<String>,
    /// The request was named explicitly (command line, environment, config)
    /// and that binary could not be used. Nothing else is tried then: a
    /// typo must never silently become "the newest install".
    pub explicit: Option<Source>,
}

/// `~/.config/cln-harness/config.toml`:
/// ```toml
/// [roles]          # role -> label or path
/// base = "v25.02.1"
/// [labels]         # label -> path of a lightningd inside its install tree
/// "v25.02.1" = "/opt/cln-25.02.1/bin/lightningd"
/// [search]
/// release_dirs = ["/opt/cln-releases"]   # unpacked official tarballs
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, PathBuf>,
    #[serde(default)]
    pub search: SearchConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    #[serde(default)]
    pub release_dirs: Vec<PathBuf>,
}

/// Everything resolution may consult, gathered once. Tests build it by hand
/// over fake trees; [`Discovery::from_environment`] reads the real machine.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub command_line: Vec<(String, PathBuf)>,
    pub env: BTreeMap<String, String>,
    pub config: Option<(PathBuf, UserConfig)>,
    pub cache_root: PathBuf,
    pub clnvm_root: PathBuf,
    pub release_dirs: Vec<PathBuf>,
    pub path_dirs: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error("reading {path}: {message}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

/// Env var for a role: `CLN_HARNESS_LIGHTNINGD_<ROLE>` (uppercased, `-`/`.` → `_`).
pub fn env_var_for(role: &str) -> String {
    let up: String = role
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("CLN_HARNESS_LIGHTNINGD_{up}")
}

impl Discovery {
    pub fn from_environment(
        command_line: Vec<(String, PathBuf)>,
    ) -> Result<Discovery, ConfigError> {
        let env = std::env::vars()
            .filter(|(k, _)| k.starts_with("CLN_HARNESS_LIGHTNINGD_"))
            .collect();
        let cfg_path = paths::user_config_file();
        let config = match std::fs::read_to_string(&cfg_path) {
            Ok(text) => Some((
                cfg_path.clone(),
                toml::from_str::<UserConfig>(&text).map_err(|e| ConfigError {
                    path: cfg_path.clone(),
                    message: e.to_string(),
                })?,
            )),
            Err(_) => None,
        };
        let mut release_dirs = vec![paths::cache_root().join("releases")];
        if let Some((_, c)) = &config {
            release_dirs.extend(c.search.release_dirs.iter().cloned());
        }
        Ok(Discovery {
            command_line,
            env,
            config,
            cache_root: paths::cache_root().join("lightningd"),
            clnvm_root: paths::clnvm_root(),
            release_dirs,
            path_dirs: paths::path_dirs(),
        })
    }

    /// Resolve a role or label to a working lightningd.
    ///
    /// A binary given explicitly for this request (`--lightningd`, the
    /// environment, the config file) is used as given or not at all:
    /// discovery only fills requests nobody named.
    pub fn resolve(&self, request: &str) -> Result<Lightningd, ResolveError> {
        self.resolve_depth(request, 0)
    }

    fn resolve_depth(&self, request: &str, depth: usize) -> Result<Lightningd, ResolveError> {
        let mut tried = Vec::new();
        if let Some((source, candidate)) = self.explicit_source(request) {
            let described = format!("{source} gave `{request}` as {}", candidate.describe());
            return match self.try_candidate(request, source.clone(), candidate, depth) {
                Ok(found) => Ok(found),
                Err(why) => Err(ResolveError {
                    request: request.into(),
                    tried: vec![format!("{described}: {why}; an explicitly given binary is never replaced by another")],
                    explicit: Some(source),
                }),
            };
        }
        for (source, candidate) in self.discovered_sources(request, &mut tried) {
            match self.try_candidate(request, source.clone(), candidate.clone(), depth) {
                Ok(found) => return Ok(found),
                Err(why) => tried.push(format!("{source}: {}: {why}", candidate.describe())),
            }
        }
        Err(ResolveError {
            request: request.into(),
            tried,
            explicit: None,
        })
    }

    fn try_candidate(
        &self,
        request: &str,
        source: Source,
        candidate: Candidate,
        depth: usize,
    ) -> Result<Lightningd, String> {
        match candidate {
            Candidate::Path(path, label) => {
                let version = probe(&path).map_err(|e| e.to_string())?;
                if let Some(label) = &label {
                    if !label_matches(label, &version) {
                        return Err(format!("it is {version}, not {label}"));
                    }
                }
                Ok(Lightningd {
                    request: request.into(),
                    source,
                    path,
                    version,
                })
            }
            Candidate::Label(label) if label == request || depth > 4 => {
                Err(format!("label `{label}` refers to itself"))
            }
            Candidate::Label(label) => match self.resolve_depth(&label, depth + 1) {
                Ok(mut found) => {
                    found.request = request.into();
                    found.source = source;
                    Ok(found)
                }
                Err(e) => Err(format!("label {label} not found ({})", e.tried.join(", "))),
            },
        }
    }

    /// The highest-priority explicit answer for `request`, if anyone gave one.
    fn explicit_source(&self, request: &str) -> Option<(Source, Candidate)> {
        // 1. --lightningd ROLE=PATH|LABEL (the last one given wins, as with most CLIs)
        if let Some((_, given)) = self
            .command_line
            .iter()
            .rev()
            .find(|(name, _)| name == request)
        {
            return Some((
                Source::CommandLine,
                Candidate::path_or_label(&given.display().to_string()),
            ));
        }
        // 2. $CLN_HARNESS_LIGHTNINGD_<ROLE>: a path, or a label
        let var = env_var_for(request);
        if let Some(v) = self.env.get(&var) {
            return Some((Source::Env(var), Candidate::path_or_label(v)));
        }
        // 3. user config: roles map to a label or path; labels map to paths
        let (cfg_path, cfg) = self.config.as_ref()?;
        let src = Source::ConfigFile(cfg_path.clone());
        if let Some(v) = cfg.roles.get(request) {
            return Some((src, Candidate::path_or_label(v)));
        }
        cfg.labels
            .get(request)
            .map(|p| (src, Candidate::Path(p.clone(), Some(request.into()))))
    }

    /// The one ordered list of discovery sources, consulted only when no
    /// explicit source names the request. See README "Pointing the harness at lightningd".
    fn discovered_sources(
        &self,
        request: &str,
        tried: &mut Vec<String>,
    ) -> Vec<(Source, Candidate)> {
        let mut out = Vec::new();
        let var = env_var_for(request);
        // 4. the harness's own installs, by label
        let cached = self.cache_root.join(request).join("bin/lightningd");
        if cached.exists() {
            out.push((Source::Cache, Candidate::Path(cached, Some(request.into()))));
        } else if is_commit_label(request) {
            // `build <commit>` installs under its `git describe` label
            // (`v25.02-321-g1cc64dd67`): a commit label finds that dir.
            for dir in list_dirs(&self.cache_root) {
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
                let bin = dir.join("bin/lightningd");
                if name.is_some_and(|n| n.ends_with(&format!("-g{request}"))) && bin.is_file() {
                    out.push((Source::Cache, Candidate::Path(bin, Some(request.into()))));
                }
            }
        }
        // 5. trees users already have: clnvm and unpacked release tarballs
        for p in clnvm_trees(&self.clnvm_root, request) {
            out.push((Source::Clnvm, Candidate::Path(p, Some(request.into()))));
        }
        for p in release_trees(&self.release_dirs, request) {
            out.push((
                Source::ReleaseTarball,
                Candidate::Path(p, Some(request.into())),
            ));
        }
        // `candidate` with nothing configured: the newest harness install.
        if request == "candidate" {
            match newest_install(&self.cache_root, &self.release_dirs) {
                Some((source, p)) => out.push((source, Candidate::Path(p, None))),
                None => tried.push(format!(
                    "harness cache: nothing under {}",
                    self.cache_root.display()
                )),
            }
            // 6. PATH, for candidate only
            for dir in &self.path_dirs {
                let p = dir.join("lightningd");
                if p.is_file() {
                    out.push((Source::Path, Candidate::Path(p, None)));
                    break;
                }
            }
        }
        if out.is_empty() {
            tried.push(format!(
                "not given by --lightningd {request}=PATH, ${var}, {}, nor installed as {}; `cln-harness install <tag>` downloads a release, or build one from a checkout into that dir",
                self.config.as_ref().map_or("a config file".to_string(), |(p, _)| p.display().to_string()),
                self.cache_root.join(request).join("bin/lightningd").display()
            ));
        }
        out
    }

    /// Every role and label this machine can answer: for `cln-harness binaries`.
    pub fn known_requests(&self) -> Vec<String> {
        let mut names: Vec<String> = vec!["candidate".into(), "base".into()];
        names.extend(self.command_line.iter().map(|(n, _)| n.clone()));
        if let Some((_, c)) = &self.config {
            names.extend(c.roles.keys().cloned());
            names.extend(c.labels.keys().cloned());
        }
        names.extend(list_dirs(&self.cache_root).into_iter().filter_map(|p| {
            p.join("bin/lightningd")
                .exists()
                .then(|| p.file_name()?.to_str().map(String::from))
                .flatten()
        }));
        let mut seen = std::collections::BTreeSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names
    }
}

#[derive(Debug, Clone)]
enum Candidate {
    /// A lightningd path; with `Some(label)`, `--version` must confirm it.
    Path(PathBuf, Option<String>),
    /// Another name to resolve (a role pointing at a label).
    Label(String),
}

impl Candidate {
    /// `/opt/cln/bin/lightningd` or `./lightningd` is a path; `v25.05` a label
    /// (unless a file of that name exists here).
    fn path_or_label(v: &str) -> Candidate {
        if v.contains('/') || Path::new(v).is_file() {
            Candidate::Path(PathBuf::from(v), None)
        } else {
            Candidate::Label(v.to_string())
        }
    }

    fn describe(&self) -> String {
        match self {
            Candidate::Path(p, _) => p.display().to_string(),
            Candidate::Label(l) => format!("label {l}"),
        }
    }
}

fn list_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// clnvm: `<root>/<sha256-of-tarball>/<tag>/usr/local/bin/lightningd`, where
/// `<tag>` may carry a Greenlight suffix (`v25.05gl1`).
fn clnvm_trees(root: &Path, label: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for hash_dir in list_dirs(root) {
        for tag_dir in list_dirs(&hash_dir) {
            let tag = tag_dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if tag.starts_with(label) {
                let p = tag_dir.join("usr/local/bin/lightningd");
                if p.is_file() {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Unpacked official tarballs: `<dir>/<anything>/usr/bin/lightningd` (or the
/// dir itself is the tarball root). The label is checked by `--version`,
/// so every tree is a candidate.
fn release_trees(dirs: &[PathBuf], _label: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in dirs {
        let direct = dir.join("usr/bin/lightningd");
        if direct.is_file() {
            out.push(direct);
        }
        for sub in list_dirs(dir) {
            let p = sub.join("usr/bin/lightningd");
            if p.is_file() {
                out.push(p);
            }
        }
    }
    out
}

/// The newest release among the harness's builds (`<cache>/lightningd/*`)
/// and unpacked release tarballs (what `cln-harness install` writes).
fn newest_install(cache_root: &Path, release_dirs: &[PathBuf]) -> Option<(Source, PathBuf)> {
    list_dirs(cache_root)
        .into_iter()
        .map(|d| d.join("bin/lightningd"))
        .filter(|p| p.is_file())
        .map(|p| (Source::Cache, p))
        .chain(
            release_trees(release_dirs, "")
                .into_iter()
                .map(|p| (Source::ReleaseTarball, p)),
        )
        .filter_map(|(source, p)| Some((probe(&p).ok()?, (source, p))))
        .filter(|(v, _)| v.is_release())
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, p)| p)
}

/// A label that is an abbreviated commit id (7 to 40 hex digits).
fn is_commit_label(label: &str) -> bool {
    (7..=40).contains(&label.len()) && label.chars().all(|c| c.is_ascii_hexdigit())
}

/// Does `lightningd --version` confirm this label? `v25.05` matches
/// `v25.05` and `v25.05gl1` but not `v25.05.1`; a commit label
/// `1cc64dd67` matches `v25.02-321-g1cc64dd67`.
pub fn label_matches(label: &str, version: &ClnVersion) -> bool {
    let v = version.raw.as_str();
    let strip = |s: &str| s.strip_prefix('v').unwrap_or(s).to_string();
    let (l, vs) = (strip(label), strip(v));
    if l == vs || vs.ends_with(&format!("-g{l}")) || vs.contains(&format!("-g{l}-")) {
        return true;
    }
    vs.strip_prefix(&l)
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| !c.is_ascii_digit() && c != '.' && c != '-')
}

/// bitcoind and bitcoin-cli, side by side.
#[derive(Debug, Clone)]
pub struct BitcoinBins {
    pub bitcoind: PathBuf,
    pub bitcoin_cli: PathBuf,
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
#[error("no bitcoind found: {}. Build one with ci/build-bitcoind.sh", tried.join("; "))]
pub struct BitcoindMissing {
    pub tried: Vec<String>,
}

/// bitcoind lookup order: explicit path, `$BITCOIND_EXE`, the harness cache
/// (`<cache>/bitcoin/<version>/bin`), PATH. As with lightningd, an explicit
/// path (`--bitcoind`, `$BITCOIND_EXE`) is used as given or not at all.
pub fn resolve_bitcoind(explicit: Option<&Path>) -> Result<BitcoinBins, BitcoindMissing> {
    let env = std::env::var_os("BITCOIND_EXE").map(PathBuf::from);
    resolve_bitcoind_in(
        explicit,
        env.as_deref(),
        &paths::cache_root().join("bitcoin"),
        &paths::path_dirs(),
    )
}

fn resolve_bitcoind_in(
    explicit: Option<&Path>,
    env: Option<&Path>,
    cache: &Path,
    path_dirs: &[PathBuf],
) -> Result<BitcoinBins, BitcoindMissing> {
    let usable = |bitcoind: &Path| {
        let cli = bitcoind.with_file_name("bitcoin-cli");
        (bitcoind.is_file() && cli.is_file()).then_some(cli)
    };
    let given = match (explicit, env) {
        (Some(p), _) => Some(("--bitcoind", p)),
        (None, Some(p)) => Some(("$BITCOIND_EXE", p)),
        (None, None) => None,
    };
    if let Some((source, bitcoind)) = given {
        return match usable(bitcoind) {
            Some(bitcoin_cli) => Ok(BitcoinBins { bitcoind: bitcoind.to_path_buf(), bitcoin_cli, source: source.into() }),
            None => Err(BitcoindMissing {
                tried: vec![format!(
                    "{source} gave {} but it is not a file with bitcoin-cli beside it; an explicitly given binary is never replaced by another",
                    bitcoind.display()
                )],
            }),
        };
    }
    let mut candidates: Vec<(String, PathBuf)> = Vec::new();
    for d in list_dirs(cache).into_iter().rev() {
        candidates.push(("harness cache".into(), d.join("bin/bitcoind")));
    }
    for d in path_dirs {
        candidates.push(("PATH".into(), d.join("bitcoind")));
    }
    let mut tried = Vec::new();
    for (source, bitcoind) in candidates {
        if let Some(bitcoin_cli) = usable(&bitcoind) {
            return Ok(BitcoinBins {
                bitcoind,
                bitcoin_cli,
                source,
            });
        }
        tried.push(format!(
            "{source}: {} (with bitcoin-cli beside it)",
            bitcoind.display()
        ));
    }
    if tried.is_empty() {
        tried.push(format!("nothing under {}", cache.display()));
    }
    Err(BitcoindMissing { tried })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake install tree whose lightningd prints `version`.
    fn fake_lightningd(path: &Path, version: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("#!/bin/sh\necho {version}\n")).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn discovery(root: &Path) -> Discovery {
        Discovery {
            cache_root: root.join("cache"),
            clnvm_root: root.join("clnvm"),
            release_dirs: vec![root.join("releases")],
            ..Default::default()
        }
    }

    #[test]
    fn labels_are_confirmed_by_version_output() {
        let v = |s| ClnVersion::parse(s).unwrap();
        assert!(label_matches("v25.05", &v("v25.05")));
        assert!(label_matches("v25.05", &v("v25.05gl1")));
        assert!(!label_matches("v25.05", &v("v25.05.1")));
        assert!(label_matches("1cc64dd67", &v("v25.02-321-g1cc64dd67")));
        assert!(!label_matches("v25.02", &v("v25.02-321-g1cc64dd67")));
    }

    #[test]
    fn cache_install_by_label() {
        let d = tempfile::tempdir().unwrap();
        fake_lightningd(&d.path().join("cache/v25.05/bin/lightningd"), "v25.05");
        let found = discovery(d.path()).resolve("v25.05").unwrap();
        assert_eq!(found.source, Source::Cache);
        assert_eq!(found.version.raw, "v25.05");
    }

    /// `build 1cc64dd67` installs under `git describe`'s label; the test
    /// matrices name the commit. A fresh machine that built it found
    /// nothing at `<cache>/1cc64dd67` and every such cell was an `error`.
    #[test]
    fn a_commit_label_finds_the_build_installed_under_its_describe_label() {
        let d = tempfile::tempdir().unwrap();
        fake_lightningd(
            &d.path().join("cache/v25.02-321-g1cc64dd67/bin/lightningd"),
            "v25.02-321-g1cc64dd67",
        );
        let found = discovery(d.path()).resolve("1cc64dd67").unwrap();
        assert_eq!(found.source, Source::Cache);
        assert_eq!(found.version.raw, "v25.02-321-g1cc64dd67");
        // Only a commit's own build: another commit's is not it.
        assert!(discovery(d.path()).resolve("1cc64dd68").is_err());
    }

    #[test]
    fn a_directory_name_is_never_trusted() {
        let d = tempfile::tempdir().unwrap();
        fake_lightningd(&d.path().join("cache/v25.05/bin/lightningd"), "v24.11");
        let err = discovery(d.path()).resolve("v25.05").unwrap_err();
        assert!(err.to_string().contains("is v24.11, not v25.05"), "{err}");
    }

    #[test]
    fn clnvm_layout_with_greenlight_suffix() {
        let d = tempfile::tempdir().unwrap();
        fake_lightningd(
            &d.path()
                .join("clnvm/ab12cd/v24.11gl1/usr/local/bin/lightningd"),
            "v24.11gl1",
        );
        let found = discovery(d.path()).resolve("v24.11").unwrap();
        assert_eq!(found.source, Source::Clnvm);
    }

    #[test]
    fn unpacked_release_tarball_layout() {
        let d = tempfile::tempdir().unwrap();
        fake_lightningd(
            &d.path()
                .join("releases/clightning-v25.02.1/usr/bin/lightningd"),
            "v25.02.1",
        );
        fake_lightningd(
            &d.path()
                .join("releases/clightning-v25.05/usr/bin/lightningd"),
            "v25.05",
        );
        let found = discovery(d.path()).resolve("v25.02.1").unwrap();
        assert_eq!(found.source, Source::ReleaseTarball);
        assert_eq!(found.version.raw, "v25.02.1");
    }

    #[test]
    fn order_is_command_line_then_env_then_config_then_cache() {
        let d = tempfile::tempdir().unwrap();
        let p = |s: &str| d.path().join(s);
        fake_lightningd(&p("cli/bin/lightningd"), "v26.06.6");
        fake_lightningd(&p("env/bin/lightningd"), "v25.05");
        fake_lightningd(&p("cfg/bin/lightningd"), "v25.02.1");
        fake_lightningd(&p("cache/v24.11/bin/lightningd"), "v24.11");
        let mut disc = discovery(d.path());
        let mut cfg = UserConfig::default();
        cfg.roles
            .insert("base".into(), p("cfg/bin/lightningd").display().to_string());
        disc.config = Some((p("config.toml"), cfg));
        assert_eq!(disc.resolve("base").unwrap().version.raw, "v25.02.1");
        disc.env.insert(
            env_var_for("base"),
            p("env/bin/lightningd").display().to_string(),
        );
        assert_eq!(disc.resolve("base").unwrap().version.raw, "v25.05");
        disc.command_line
            .push(("base".into(), p("cli/bin/lightningd")));
        let found = disc.resolve("base").unwrap();
        assert_eq!(
            (found.version.raw.as_str(), found.source),
            ("v26.06.6", Source::CommandLine)
        );
    }

    #[test]
    fn a_role_may_name_a_label() {
        let d = tempfile::tempdir().unwrap();
        fake_lightningd(&d.path().join("cache/v25.02.1/bin/lightningd"), "v25.02.1");
        let mut disc = discovery(d.path());
        disc.env
            .insert("CLN_HARNESS_LIGHTNINGD_BASE".into(), "v25.02.1".into());
        let found = disc.resolve("base").unwrap();
        assert_eq!(found.version.raw, "v25.02.1");
        assert_eq!(found.request, "base");
    }

    #[test]
    fn candidate_defaults_to_the_newest_release_install_and_base_to_nothing() {
        let d = tempfile::tempdir().unwrap();
        fake_lightningd(&d.path().join("cache/v25.05/bin/lightningd"), "v25.05");
        fake_lightningd(&d.path().join("cache/v26.06.6/bin/lightningd"), "v26.06.6");
        fake_lightningd(
            &d.path().join("cache/1cc64dd67/bin/lightningd"),
            "v25.02-321-g1cc64dd67",
        );
        let disc = discovery(d.path());
        assert_eq!(disc.resolve("candidate").unwrap().version.raw, "v26.06.6");
        let err = disc.resolve("base").unwrap_err();
        assert!(
            err.to_string().contains("CLN_HARNESS_LIGHTNINGD_BASE"),
            "{err}"
        );
    }

    /// The bug report: `--lightningd candidate=/nonexistent/lightningd` passed
    /// on the newest install. Every explicit source, every way to be unusable.
    #[test]
    fn an_explicitly_given_binary_is_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        fake_lightningd(&d.path().join("cache/v26.06.6/bin/lightningd"), "v26.06.6");
        fake_lightningd(&d.path().join("cache/v25.05/bin/lightningd"), "v25.05");
        let not_exec = d.path().join("plain/lightningd");
        std::fs::create_dir_all(not_exec.parent().unwrap()).unwrap();
        std::fs::write(&not_exec, "not a program").unwrap();
        let garbage = d.path().join("garbage/bin/lightningd");
        fake_lightningd(&garbage, "hello");
        let unusable = [
            ("/nonexistent/lightningd".to_string(), "cannot run"),
            ("/bin/false".to_string(), "`--version` exited"),
            (not_exec.display().to_string(), "cannot run"),
            (garbage.display().to_string(), "not a CLN version"),
            ("v24.11".to_string(), "label v24.11 not found"),
        ];
        for (given, why) in &unusable {
            let mut by_cli = discovery(d.path());
            by_cli
                .command_line
                .push(("candidate".into(), PathBuf::from(given)));
            let mut by_env = discovery(d.path());
            by_env.env.insert(env_var_for("candidate"), given.clone());
            let mut by_config = discovery(d.path());
            let mut cfg = UserConfig::default();
            cfg.roles.insert("candidate".into(), given.clone());
            by_config.config = Some((d.path().join("config.toml"), cfg));
            for disc in [by_cli, by_env, by_config] {
                let e = disc.resolve("candidate").unwrap_err();
                assert!(e.explicit.is_some(), "{given}: {e}");
                let text = e.to_string();
                assert!(
                    text.contains(why) && text.contains("never replaced"),
                    "{given}: {text}"
                );
            }
        }
    }

    #[test]
    fn a_label_on_the_command_line_is_resolved_as_that_label() {
        let d = tempfile::tempdir().unwrap();
        fake_lightningd(&d.path().join("cache/v26.06.6/bin/lightningd"), "v26.06.6");
        fake_lightningd(&d.path().join("cache/v25.05/bin/lightningd"), "v25.05");
        let mut disc = discovery(d.path());
        disc.command_line
            .push(("candidate".into(), PathBuf::from("v25.05")));
        let found = disc.resolve("candidate").unwrap();
        assert_eq!(
            (found.version.raw.as_str(), found.source),
            ("v25.05", Source::CommandLine)
        );
    }

    #[test]
    fn an_explicit_bitcoind_is_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        let good = d.path().join("cache/31.99/bin/bitcoind");
        std::fs::create_dir_all(good.parent().unwrap()).unwrap();
        std::fs::write(&good, "").unwrap();
        std::fs::write(good.with_file_name("bitcoin-cli"), "").unwrap();
        let cache = d.path().join("cache");
        assert_eq!(
            resolve_bitcoind_in(None, None, &cache, &[])
                .unwrap()
                .bitcoind,
            good
        );
        let e =
            resolve_bitcoind_in(Some(Path::new("/nope/bitcoind")), None, &cache, &[]).unwrap_err();
        assert!(
            e.to_string().contains("--bitcoind gave /nope/bitcoind"),
            "{e}"
        );
        let e =
            resolve_bitcoind_in(None, Some(Path::new("/nope/bitcoind")), &cache, &[]).unwrap_err();
        assert!(e.to_string().contains("$BITCOIND_EXE gave"), "{e}");
    }

    /// What `cln-harness install` writes is what `candidate` finds on a
    /// fresh machine (the README's main command).
    #[test]
    fn candidate_finds_an_installed_release_tarball() {
        let d = tempfile::tempdir().unwrap();
        fake_lightningd(
            &d.path().join("releases/v26.06.6/usr/bin/lightningd"),
            "v26.06.6",
        );
        let found = discovery(d.path()).resolve("candidate").unwrap();
        assert_eq!(
            (found.version.raw.as_str(), found.source),
            ("v26.06.6", Source::ReleaseTarball)
        );
    }

    #[test]
    fn env_var_names() {
        assert_eq!(env_var_for("candidate"), "CLN_HARNESS_LIGHTNINGD_CANDIDATE");
        assert_eq!(env_var_for("v25.05"), "CLN_HARNESS_LIGHTNINGD_V25_05");
    }
}
