//! Where the harness looks for things on the user's machine. One place,
//! so the docs, the CI script and the code agree.

use std::path::PathBuf;

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// `$CLN_HARNESS_CACHE`, else `$XDG_CACHE_HOME/cln-harness`, else `~/.cache/cln-harness`.
pub fn cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("CLN_HARNESS_CACHE") {
        return PathBuf::from(p);
    }
    xdg_cache().join("cln-harness")
}

fn xdg_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache"))
}

/// `~/.config/cln-harness/config.toml` (or `$CLN_HARNESS_CONFIG`).
pub fn user_config_file() -> PathBuf {
    if let Some(p) = std::env::var_os("CLN_HARNESS_CONFIG") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".config"));
    base.join("cln-harness").join("config.toml")
}

/// clnvm's cache root: `$CLNVM_CACHE_DIR`, `$XDG_CACHE_HOME/clnvm`, `~/.cache/clnvm`.
pub fn clnvm_root() -> PathBuf {
    if let Some(p) = std::env::var_os("CLNVM_CACHE_DIR") {
        return PathBuf::from(p);
    }
    xdg_cache().join("clnvm")
}

pub fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}
