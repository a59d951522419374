//! The cached `initdb` result a server starts from: made once per
//! PostgreSQL major version (an `initdb` takes seconds; a copy of its
//! result, tens of ms), staged privately and published by one rename.

use super::{chown_tree, io, io_at, reachable, run, PgBins, PgError, SUPERUSER};
use crate::userdirs::{self, Access};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cached `initdb` result for this major version, made on first use:
/// in the cache, else (the cache is not this user's to use) in this user's
/// state dir.
pub(super) fn template(bins: &PgBins, user: Option<(u32, u32)>) -> Result<PathBuf, PgError> {
    let cache = crate::paths::cache_root()
        .join("postgres")
        .join(&bins.major);
    match template_in(&cache, bins, user) {
        Err(e) if e.is_permission() => {
            let own = userdirs::state_dir()?.join("postgres").join(&bins.major);
            template_in(&own, bins, user).map_err(|e2| PgError::Command {
                command: "making the initdb template".into(),
                stderr: format!("in the cache: {e}; in this user's state dir: {e2}"),
            })
        }
        r => r,
    }
}

fn template_in(root: &Path, bins: &PgBins, user: Option<(u32, u32)>) -> Result<PathBuf, PgError> {
    // Named after how it is made, so a change of recipe makes a new one.
    let tpl = root.join("template-wal1m-no-postgres-db");
    let ready = || {
        let pg_version = tpl.join("PG_VERSION");
        pg_version
            .try_exists()
            .map_err(io_at("checking", &pg_version, Access::Read))
    };
    if ready()? {
        return Ok(tpl);
    }
    std::fs::create_dir_all(root).map_err(io_at("creating", root, Access::Create))?;
    let _lock = crate::builds::CacheLock::acquire(&root.join(".lock"))?;
    if ready()? {
        return Ok(tpl);
    }
    // Before initdb's second: can the template be published here at all?
    let staging = userdirs::private_tempdir_in("template.tmp-", root).map_err(io_at(
        "creating a dir in",
        root,
        Access::Create,
    ))?;
    // initdb runs as the unprivileged user, who cannot reach a cache under
    // /root: it writes into a private temp dir, copied into the cache after.
    let work = userdirs::private_tempdir("cln-harness-initdb-")
        .map_err(io("creating a dir for initdb"))?;
    chown_tree(work.path(), user)?;
    reachable(work.path(), user)?;
    let fresh = work.path().join("data");
    let mut cmd = Command::new(bins.exe("initdb"));
    cmd.arg("-D")
        .arg(&fresh)
        .args([
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        // 1 MB WAL segments instead of 16: a smaller template, a faster copy.
        .arg("--wal-segsize=1")
        .current_dir(work.path());
    if let Some((uid, gid)) = user {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    run(&mut cmd)?;
    // The `postgres` database is only a default to connect to; the harness
    // connects to template1 instead, and each run copies 7 MB less.
    // (Dropped in single-user mode: no server, no socket, one statement.)
    let mut drop_db = Command::new(bins.exe("postgres"));
    drop_db
        .args(["--single", "-D"])
        .arg(&fresh)
        .arg("template1")
        .current_dir(work.path())
        .stdin(std::process::Stdio::piped());
    if let Some((uid, gid)) = user {
        use std::os::unix::process::CommandExt;
        drop_db.uid(uid).gid(gid);
    }
    let mut child = drop_db
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(io("postgres --single"))?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or_else(|| PgError::Command {
            command: "postgres --single template1".into(),
            stderr: "its stdin was not piped".into(),
        })?;
        stdin
            .write_all(b"DROP DATABASE postgres\n")
            .map_err(io("postgres --single"))?;
    }
    let out = child.wait_with_output().map_err(io("postgres --single"))?;
    if !out.status.success() {
        return Err(PgError::Command {
            command: "postgres --single template1 (DROP DATABASE postgres)".into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let staged = staging.path().join("template");
    run(Command::new("cp").arg("-a").arg(&fresh).arg(&staged))?;
    std::fs::rename(&staged, &tpl).map_err(io("publishing the template"))?;
    Ok(tpl)
}
