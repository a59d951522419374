//! `cln-harness build` and `install`: lightningd trees into the harness cache.

use crate::builds::build::BuildOptions;
use crate::outcome::{exit_code, ExitCode, OutcomeKind};
use std::path::Path;

/// `build`: a pass when every ref is built (or was already), the
/// environment when one could not be (a bad ref, missing prerequisites, a
/// failed build).
pub fn build(refs: &[String], repo: Option<&Path>, opts: &BuildOptions) -> i32 {
    use crate::builds::build::{build, Built};
    let repo = crate::builds::git::Repo::new(repo.unwrap_or(Path::new(".")));
    let cache = crate::paths::cache_root();
    let mut code = ExitCode::PASS;
    for r in refs {
        match build(&repo, r, &cache, opts, &mut |l| eprintln!("{l}")) {
            Ok(Built::New {
                label,
                dir,
                seconds,
                kind,
                ..
            }) => println!(
                "{r}: built {label} into {} in {seconds}s ({} build)",
                dir.display(),
                kind.as_str()
            ),
            Ok(Built::Reused { label, dir, .. }) => {
                println!("{r}: {label} already built in {}", dir.display())
            }
            Err(e) => {
                eprintln!("error: {r}: {e}");
                code = exit_code(OutcomeKind::Error);
            }
        }
    }
    code
}

/// `install`: a pass when every label is installed (or already was), the
/// environment when one could not be (no network, no tarball for this platform, a tarball
/// that fails its checksum: nothing is installed then).
pub fn install(
    labels: &[String],
    from: Option<&str>,
    platform: Option<&str>,
    keys: Option<&Path>,
) -> i32 {
    use crate::builds::install::{install, platform_from_os_release, Installed, ReleaseSource};
    let platform = match platform {
        Some(p) => p.to_string(),
        None => {
            let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
            match platform_from_os_release(&os, std::env::consts::ARCH) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit_code(OutcomeKind::Error);
                }
            }
        }
    };
    let source = ReleaseSource::parse(from);
    let cache = crate::paths::cache_root();
    let mut code = ExitCode::PASS;
    for label in labels {
        match install(label, &source, &platform, &cache, keys) {
            Ok(Installed::New {
                tag,
                dir,
                asset,
                signatures,
            }) => {
                println!("{tag}: installed {asset} (sha256 checked against SHA256SUMS-{tag}; {signatures}) into {}", dir.display())
            }
            Ok(Installed::AlreadyThere { tag, dir }) => {
                println!("{tag}: already installed in {}", dir.display())
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = exit_code(OutcomeKind::Error);
            }
        }
    }
    code
}
