//! End-to-end checks of the core, on every lightningd this machine has:
//! a funded alice→bob channel carries a keysend and an invoice payment;
//! three nodes in a line pay across both channels; a SIGKILLed
//! `cln-harness up` leaves no daemon behind; root's run, then an
//! unprivileged user's, on one machine, both pass.

mod support;

use cln_harness::network::{ChannelSpec, Network, RunDir};
use cln_harness::options::NodeConfig;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::json;
use std::time::Duration;
use support::Machine;

const CALL: Duration = Duration::from_secs(60);

async fn bring_up(m: &Machine, label: &str, names: &[&str]) -> Result<(Network, RunDir), Failed> {
    let bin = m.lightningd(label)?;
    let bitcoin = m.bitcoin.clone()?;
    let dir = RunDir::new(false)?;
    let nodes = names
        .iter()
        .map(|n| (NodeConfig::named(n), bin.clone()))
        .collect();
    let mut net = Network::create(dir.path(), &bitcoin, nodes)
        .await
        .map_err(|e| e.to_string())?;
    net.start_all().await.map_err(|e| e.to_string())?;
    let channels: Vec<ChannelSpec> = names
        .windows(2)
        .map(|w| ChannelSpec {
            push_msat: 100_000_000,
            ..ChannelSpec::new(w[0], w[1])
        })
        .collect();
    net.open_channels(&channels, &|p: &str| eprintln!("  {p}"))
        .await
        .map_err(|e| e.to_string())?;
    Ok((net, dir))
}

fn keysend_method(net: &Network, node: &str) -> &'static str {
    let v = &net.node(node).unwrap().binary.version;
    if cln_harness::version::Features::of(v).keysend_and_pay_deprecated {
        "xkeysend"
    } else {
        "keysend"
    }
}

async fn pay_invoice(
    net: &Network,
    payer: &str,
    payee: &str,
    msat: u64,
    label: &str,
) -> Result<(), Failed> {
    let inv = net
        .node(payee)?
        .call(
            "invoice",
            json!({"amount_msat": msat, "label": label, "description": label}),
            CALL,
        )
        .await?;
    let r = net
        .node(payer)?
        .call("pay", json!({"bolt11": inv["bolt11"]}), CALL)
        .await?;
    let r = cln_harness::executor::steps::normalize_payment(r);
    if r["status"] != "complete" {
        return Err(format!("pay {payer}→{payee}: {r}").into());
    }
    let listed = net
        .node(payee)?
        .call("listinvoices", json!({"label": label}), CALL)
        .await?;
    if listed["invoices"][0]["status"] != "paid" {
        return Err(format!("{payee}'s invoice not paid: {listed}").into());
    }
    Ok(())
}

fn two_nodes(m: &Machine, label: &str) -> Result<(), Failed> {
    support::runtime().block_on(async {
        let (mut net, _dir) = bring_up(m, label, &["alice", "bob"]).await?;
        let bob = net.node("bob")?.id.clone().unwrap();
        let method = keysend_method(&net, "alice");
        let r = net
            .node("alice")?
            .call(
                method,
                json!({"destination": bob, "amount_msat": 10_000}),
                CALL,
            )
            .await?;
        if r.get("payment_preimage").is_none() {
            return Err(format!("{method}: {r}").into());
        }
        pay_invoice(&net, "alice", "bob", 20_000, "e2e-invoice").await?;
        net.shutdown().await;
        // A chain nobody keeps: bitcoind is killed, not stopped, and reaped
        // before release returns (no zombie, nothing left running).
        let pid_file = net.bitcoind.datadir.join("regtest/bitcoind.pid");
        let pid: i32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
        let net_log = net.bitcoind.debug_log();
        if !is_alive(pid) {
            return Err(format!("bitcoind ({pid}) was gone before release").into());
        }
        net.release(false).await;
        if is_alive(pid) || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return Err(format!("bitcoind ({pid}) outlived release(false)").into());
        }
        let log = std::fs::read_to_string(net_log)?;
        if log.contains("Shutdown in progress") {
            return Err("release(false) stopped bitcoind cleanly; it should kill it".into());
        }
        Ok(())
    })
}

fn three_in_a_line(m: &Machine, label: &str) -> Result<(), Failed> {
    support::runtime().block_on(async {
        let (mut net, _dir) = bring_up(m, label, &["alice", "bob", "carol"]).await?;
        pay_invoice(&net, "alice", "carol", 30_000, "across-two-hops").await?;
        pay_invoice(&net, "carol", "alice", 10_000, "and-back").await?;
        net.shutdown().await;
        Ok(())
    })
}

/// SIGKILL the `up` process: PDEATHSIG must take lightningd and bitcoind along.
fn sigkill_leaves_nothing(m: &Machine, label: &str) -> Result<(), Failed> {
    sigkill_of_up(m, label, &[])
}

/// ... and the PostgreSQL server with them (its postmaster and backends).
fn sigkill_leaves_no_postgres(m: &Machine, label: &str) -> Result<(), Failed> {
    sigkill_of_up(m, label, &["--db", "postgres"])
}

fn sigkill_of_up(m: &Machine, label: &str, extra: &[&str]) -> Result<(), Failed> {
    use std::io::BufRead;
    let bin = m.lightningd(label)?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cln-harness"))
        .args(["up", "--keep", "--lightningd"])
        .arg(format!("candidate={}", bin.path.display()))
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(l)) => {
                let up = l.contains("press Ctrl-C");
                seen.push(l);
                if up {
                    break;
                }
            }
            _ => return Err(format!("`up` ended early:\n{}", seen.join("\n")).into()),
        }
    }
    let up_pid = child.id() as i32;
    let children = descendants(up_pid);
    if children.is_empty() {
        return Err("no daemons found under `up`".into());
    }
    let comm = |p: &i32| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
    if extra.contains(&"postgres") && !children.iter().any(|p| comm(p).starts_with("postgres")) {
        return Err(format!("no postgres among `up`'s daemons: {children:?}").into());
    }
    child.kill()?;
    child.wait()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let alive: Vec<i32> = children.iter().copied().filter(|p| is_alive(*p)).collect();
        if alive.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("still alive 10s after SIGKILL of `up`: {alive:?}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Four `run --db postgres` at once: each has its own server, socket dir
/// and databases, so all pass.
fn four_parallel_postgres_runs(m: &Machine, label: &str) -> Result<(), Failed> {
    let bin = m.lightningd(label)?;
    let root = support::repo_root();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_cln-harness"))
                .current_dir(&root)
                .args([
                    "run",
                    "scenarios/keysend.toml",
                    "--db",
                    "postgres",
                    "--lightningd",
                ])
                .arg(format!("candidate={}", bin.path.display()))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut failures = Vec::new();
    for c in children {
        let out = c.wait_with_output()?;
        if !out.status.success() {
            failures.push(format!(
                "{}: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n---\n").into())
    }
}

/// The issue "many users, one machine": root ran the harness, then an
/// unprivileged user ran the README's command with binaries it can read,
/// and ended in `error` (root's first run had made the shared
/// `/tmp/cln-harness-ports` mode 755). Here root runs, then `nobody`, in
/// one shared temp dir (mode 1777, like /tmp, holding that old 755 dir as
/// an older harness left it), each with its own HOME: both pass, and
/// nothing root's run leaves there is readable by `nobody`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UserCheck {
    Run,
    Up,
    Postgres,
}

fn root_then_nobody_run(m: &Machine, label: &str) -> Result<(), Failed> {
    root_then_nobody(m, label, UserCheck::Run)
}

fn root_then_nobody_up(m: &Machine, label: &str) -> Result<(), Failed> {
    root_then_nobody(m, label, UserCheck::Up)
}

fn root_then_nobody_postgres(m: &Machine, label: &str) -> Result<(), Failed> {
    root_then_nobody(m, label, UserCheck::Postgres)
}

/// Why a root-then-nobody test cannot run here, if it cannot.
fn cannot_switch_users() -> Option<String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("runs as root, then as `nobody`: needs root".into());
    }
    if nobody().is_none() {
        return Some("no `nobody` user".into());
    }
    if switcher().is_none() {
        return Some("neither setpriv nor runuser is installed".into());
    }
    None
}

fn nobody() -> Option<(u32, u32)> {
    // SAFETY: getpwnam's result is read at once.
    unsafe {
        let pw = libc::getpwnam(c"nobody".as_ptr());
        (!pw.is_null()).then(|| ((*pw).pw_uid, (*pw).pw_gid))
    }
}

fn switcher() -> Option<std::path::PathBuf> {
    [
        "/usr/bin/setpriv",
        "/usr/sbin/runuser",
        "/sbin/runuser",
        "/bin/setpriv",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> Result<(), Failed> {
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "cp -a {} {}: {}",
            from.display(),
            to.display(),
            support::output_text(&out)
        )
        .into());
    }
    Ok(())
}

fn chmod(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn root_then_nobody(m: &Machine, label: &str, check: UserCheck) -> Result<(), Failed> {
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;
    let (uid, gid) = nobody().ok_or("no `nobody` user")?;
    let lightningd = m.lightningd(label)?;
    let bitcoin = m.bitcoin.clone()?;
    // Readable copies: the real ones are under /root (mode 700). lightningd
    // runs inside its install tree (`bin/../libexec`), so the tree is copied.
    let stage = tempfile::Builder::new()
        .prefix("cln-harness-users-stage-")
        .tempdir()?;
    chmod(stage.path(), 0o755)?;
    let tree = lightningd
        .path
        .parent()
        .and_then(|bin| bin.parent())
        .ok_or("lightningd is not inside an install tree")?;
    let cln = stage.path().join("cln");
    copy_tree(tree, &cln)?;
    let lightningd_copy = cln.join(lightningd.path.strip_prefix(tree)?);
    let btc = stage.path().join("bitcoin");
    std::fs::create_dir(&btc)?;
    chmod(&btc, 0o755)?;
    copy_tree(&bitcoin.bitcoind, &btc.join("bitcoind"))?;
    copy_tree(&bitcoin.bitcoin_cli, &btc.join("bitcoin-cli"))?;
    let harness = stage.path().join("cln-harness");
    copy_tree(
        std::path::Path::new(env!("CARGO_BIN_EXE_cln-harness")),
        &harness,
    )?;
    std::fs::copy(
        support::repo_root().join("scenarios/keysend.toml"),
        stage.path().join("keysend.toml"),
    )?;
    chmod(&stage.path().join("keysend.toml"), 0o644)?;

    // The machine's shared temp dir, and what an older harness's root run left in it.
    let tmp = tempfile::Builder::new()
        .prefix("cln-harness-users-tmp-")
        .tempdir()?;
    chmod(tmp.path(), 0o1777)?;
    std::fs::create_dir(tmp.path().join("cln-harness-ports"))?;
    chmod(&tmp.path().join("cln-harness-ports"), 0o755)?;
    let home = tempfile::Builder::new()
        .prefix("cln-harness-users-home-")
        .tempdir()?;
    std::os::unix::fs::chown(home.path(), Some(uid), Some(gid))?;
    chmod(home.path(), 0o700)?;
    let root_home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());

    let args = |keep: bool| {
        let mut a: Vec<String> = match check {
            UserCheck::Up => vec!["up".into(), "--no-wait".into()],
            _ => vec!["run".into(), "keysend.toml".into()],
        };
        if check == UserCheck::Postgres {
            a.extend(["--db".into(), "postgres".into()]);
        }
        if keep {
            a.push("--keep".into());
        }
        a.extend([
            "--lightningd".into(),
            format!("candidate={}", lightningd_copy.display()),
            "--bitcoind".into(),
            btc.join("bitcoind").display().to_string(),
        ]);
        a
    };
    // A fresh environment, as a new user's login would have: no cache or
    // binary variables of root's.
    let env_of = |cmd: &mut Command, home: &std::ffi::OsStr| {
        cmd.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", home)
            .env("TMPDIR", tmp.path())
            .current_dir(stage.path());
    };
    let as_nobody = |program: &std::path::Path, args: &[String]| -> Result<Command, Failed> {
        let sw = switcher().ok_or("neither setpriv nor runuser")?;
        let mut cmd = Command::new(&sw);
        if sw.ends_with("setpriv") {
            cmd.args([
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--clear-groups".into(),
                "--".into(),
            ]);
            cmd.arg(program);
        } else {
            // runuser sets HOME from the passwd entry (/nonexistent): env puts it back.
            cmd.args(["-u", "nobody", "--", "/usr/bin/env"]);
            cmd.arg(format!("HOME={}", home.path().display()))
                .arg(program);
        }
        cmd.args(args);
        env_of(&mut cmd, home.path().as_os_str());
        Ok(cmd)
    };

    // 1. root, keeping its run dir: what a run leaves behind.
    let mut cmd = Command::new(&harness);
    cmd.args(args(true));
    env_of(&mut cmd, &root_home);
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("root's run: {}\n{}", out.status, support::output_text(&out)).into());
    }
    // Nothing root left in the shared temp dir is open to other users
    // (but the planted old dir, which is no longer used).
    let mut kept = Vec::new();
    for e in std::fs::read_dir(tmp.path())? {
        let e = e?;
        let meta = std::fs::symlink_metadata(e.path())?;
        if e.file_name() == "cln-harness-ports" {
            continue;
        }
        if meta.uid() == 0 && meta.mode() & 0o077 != 0 {
            return Err(format!(
                "root's run left {} mode {:o}: other users can read it",
                e.path().display(),
                meta.mode() & 0o7777
            )
            .into());
        }
        if e.path().join("alice/regtest").is_dir() {
            kept.push(e.path());
        }
    }
    let Some(kept) = kept.first() else {
        return Err(format!("root's kept run dir not found in {}", tmp.path().display()).into());
    };
    let hsm = kept.join("alice/regtest/hsm_secret");
    let peek = as_nobody(
        std::path::Path::new("/bin/cat"),
        &[hsm.display().to_string()],
    )?
    .output()?;
    if peek.status.success() {
        return Err(format!("nobody read root's {}", hsm.display()).into());
    }

    // 2. nobody, the README's command with explicit binaries.
    let out = as_nobody(&harness, &args(false))?.output()?;
    if !out.status.success() {
        return Err(format!(
            "nobody's run after root's: {}\n{}",
            out.status,
            support::output_text(&out)
        )
        .into());
    }
    let state = tmp.path().join(format!("cln-harness-uid-{uid}"));
    let meta = std::fs::symlink_metadata(&state)
        .map_err(|e| format!("nobody's state dir {}: {e}", state.display()))?;
    if meta.uid() != uid || meta.mode() & 0o7777 != 0o700 {
        return Err(format!(
            "nobody's state dir {} is uid {} mode {:o}, not its own 0700",
            state.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )
        .into());
    }
    Ok(())
}

/// The setup cache must not change an answer: the first run records the
/// set-up network (two at once: one writer wins, neither fails), the next
/// resumes from it, and both end as a run set up from scratch does: the
/// same outcome, setup, database snapshots and log digests.
fn the_setup_cache_gives_the_answer_a_cold_setup_gives(
    m: &Machine,
    label: &str,
) -> Result<(), Failed> {
    let bin = m.lightningd(label)?;
    let bitcoind = m.bitcoin.clone().map_err(Failed::from)?.bitcoind;
    let cache = tempfile::tempdir()?;
    let lightningd = format!("candidate={}", bin.path.display());
    let run = |json: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "run".to_string(),
            "scenarios/keysend.toml".into(),
            "--lightningd".into(),
            lightningd.clone(),
            "--bitcoind".into(),
            bitcoind.display().to_string(),
            "--json".into(),
            json.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = harness(&args, &[("CLN_HARNESS_CACHE", cache.path())])?;
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(json)?)?;
        if !out.status.success() {
            return Err(Failed::from(format!(
                "{args:?}: {}",
                support::output_text(&out)
            )));
        }
        Ok(report)
    };
    let dir = tempfile::tempdir()?;
    let j = |n: &str| dir.path().join(n);
    let (first, second) = std::thread::scope(|s| {
        let a = s.spawn(|| run(&j("a.json"), &[]));
        let b = s.spawn(|| run(&j("b.json"), &[]));
        (a.join(), b.join())
    });
    let first = first.map_err(|_| "the first run panicked")??;
    let second = second.map_err(|_| "the second run panicked")??;
    let hit = run(&j("hit.json"), &[])?;
    let cold = run(&j("cold.json"), &["--no-setup-cache"])?;
    let used = |r: &serde_json::Value| r["setup_cache"]["use"].as_str().unwrap_or("-").to_string();
    let firsts = [used(&first), used(&second)];
    if !firsts.contains(&"recorded".to_string()) || used(&hit) != "hit" || used(&cold) != "off" {
        return Err(format!(
            "setup_cache: first two {firsts:?}, then {}, with --no-setup-cache {}",
            used(&hit),
            used(&cold)
        )
        .into());
    }
    let entries: Vec<_> = std::fs::read_dir(cache.path().join("setups"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if entries.len() != 1 {
        return Err(format!("one entry and no staging dir left, found {entries:?}").into());
    }
    // The databases as their snapshots hold them (`stable_view`: what the
    // scenario determines, not how far the last commitment dance got).
    let stable = |r: &serde_json::Value| -> serde_json::Value {
        let dbs = r["db_snapshots"].as_object().cloned().unwrap_or_default();
        dbs.into_iter()
            .map(|(k, v)| (k, cln_harness::evidence::snapshot::stable_view(&v)))
            .collect()
    };
    for field in ["outcome", "setup", "db_snapshots", "log_snapshots"] {
        for (name, r) in [("first", &first), ("second", &second), ("hit", &hit)] {
            let (r, cold) = match field {
                "db_snapshots" => (&stable(r), &stable(&cold)),
                _ => (&r[field], &cold[field]),
            };
            if r != cold {
                return Err(format!(
                    "{field} of the {name} run differs from a cold setup's:\n{r}\nvs\n{cold}"
                )
                .into());
            }
        }
    }
    Ok(())
}

/// `cln-harness ARGS...` from the repo root.
fn harness<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    env: &[(&str, &std::path::Path)],
) -> std::io::Result<std::process::Output> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cln-harness"));
    cmd.current_dir(support::repo_root()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
}

/// The bug report: every committed fixture became a false HANG a day after
/// it was recorded, because bitcoind called its old tip initial block
/// download and lightningd deferred every commitment. A fixture whose
/// chain is dated ten days back must resume and carry payments like a
/// fresh one.
fn a_fixture_recorded_days_ago_resumes(m: &Machine, label: &str) -> Result<(), Failed> {
    let bin = m.lightningd(label)?;
    let root = tempfile::tempdir()?;
    let name = "old-chain";
    let out = root.path().join("fixtures").join(name);
    let lightningd = format!("candidate={}", bin.path.display());
    let out_arg = out.display().to_string();
    let rec = harness(
        &[
            "record",
            "scenarios/keysend.toml",
            "--at",
            "0",
            "--name",
            name,
            "--chain-days-ago",
            "10",
            "--lightningd",
            &lightningd,
            "--out",
            &out_arg,
        ],
        &[],
    )?;
    if !rec.status.success() {
        return Err(format!("record: {}", support::output_text(&rec)).into());
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("fixture.json"))?)?;
    let scenario = root.path().join("resume.toml");
    let text = std::fs::read_to_string(
        support::repo_root().join("scenarios/examples/resume-from-fixture.toml"),
    )?
    .replace(
        "from_fixture = \"keysend@v25.05\"",
        &format!("from_fixture = \"{name}\""),
    );
    std::fs::write(&scenario, text)?;
    let scenario_arg = scenario.display().to_string();
    let run = harness(&["run", &scenario_arg, "--lightningd", &lightningd], &[])?;
    if !run.status.success() {
        return Err(format!(
            "resuming a chain dated 10 days back (fixture {meta}):\n{}",
            support::output_text(&run)
        )
        .into());
    }
    Ok(())
}

/// The bug report: each failing run left about 21 MB in $TMPDIR, 16 MB of
/// it bitcoind's preallocated block file. A failing run now leaves its
/// bundle alone (no chain), well under 2 MB; a passing run leaves nothing.
fn failing_runs_leave_small_bundles_and_passing_runs_nothing(
    m: &Machine,
    label: &str,
) -> Result<(), Failed> {
    let bin = m.lightningd(label)?;
    let tmp = tempfile::tempdir()?;
    let lightningd = format!("candidate={}", bin.path.display());
    // Its own $TMPDIR, but the port locks every other test's runs share:
    // apart, two runs leased the same port ("Address already in use").
    let state = cln_harness::userdirs::state_dir()?;
    let env = [
        ("TMPDIR", tmp.path()),
        (cln_harness::userdirs::STATE_DIR_VAR, state.as_path()),
    ];
    let pass = harness(
        &["run", "scenarios/keysend.toml", "--lightningd", &lightningd],
        &env,
    )?;
    if !pass.status.success() {
        return Err(format!("keysend: {}", support::output_text(&pass)).into());
    }
    // The user's state dir (port locks, shared by the user's runs) stays by design.
    let left: Vec<_> = std::fs::read_dir(tmp.path())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("cln-harness-uid-"))
        })
        .collect();
    if !left.is_empty() {
        return Err(format!("a passing run left {left:?} in $TMPDIR").into());
    }
    let fail = harness(
        &[
            "run",
            "fixtures/verdicts/failures-show-the-data.toml",
            "--lightningd",
            &lightningd,
        ],
        &env,
    )?;
    if fail.status.code() != Some(1) {
        return Err(format!("expected a fail (1): {}", support::output_text(&fail)).into());
    }
    let bytes: u64 = std::fs::read_dir(tmp.path())?
        .flatten()
        .filter(|e| {
            !e.file_name()
                .to_string_lossy()
                .starts_with("cln-harness-uid-")
        })
        .map(|e| dir_size(&e.path()))
        .sum();
    if bytes > 2 * 1024 * 1024 {
        return Err(format!(
            "a failing run left {bytes} bytes in $TMPDIR: {}",
            support::output_text(&fail)
        )
        .into());
    }
    let bundles: Vec<_> = walk(tmp.path())
        .into_iter()
        .filter(|p| p.ends_with("bundle/report.json"))
        .collect();
    if bundles.len() != 1 {
        return Err(format!("expected one bundle, found {bundles:?}").into());
    }
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn dir_size(dir: &std::path::Path) -> u64 {
    walk(dir)
        .iter()
        .filter_map(|p| p.symlink_metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(c) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{c}/stat")).unwrap_or_default();
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 2..].split(' ').nth(1)?.parse::<i32>().ok());
            if ppid == Some(p) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rfind(')')
                .and_then(|i| s[i + 2..].chars().next())
                .is_some_and(|st| st != 'Z' && st != 'X')
        })
        .unwrap_or(false)
}

fn main() {
    let args = Arguments::from_args();
    let machine = std::sync::Arc::new(Machine::detect());
    let mut suite = support::Suite::new();
    // The default candidate plus each version the issue names.
    let labels = ["candidate", "v25.02.1", "v25.05", "v26.06.6"];
    type Check = fn(&Machine, &str) -> Result<(), Failed>;
    let checks: [(&str, Check); 11] = [
        (
            "the_setup_cache_gives_the_answer_a_cold_setup_gives",
            the_setup_cache_gives_the_answer_a_cold_setup_gives,
        ),
        ("two_nodes_keysend_and_invoice", two_nodes),
        (
            "three_nodes_in_a_line_pay_across_both_channels",
            three_in_a_line,
        ),
        ("sigkill_of_up_leaves_no_daemon", sigkill_leaves_nothing),
        (
            "sigkill_of_up_leaves_no_postgres",
            sigkill_leaves_no_postgres,
        ),
        (
            "four_parallel_postgres_runs_do_not_collide",
            four_parallel_postgres_runs,
        ),
        (
            "a_fixture_recorded_days_ago_resumes",
            a_fixture_recorded_days_ago_resumes,
        ),
        (
            "failing_runs_leave_small_bundles_and_passing_runs_nothing",
            failing_runs_leave_small_bundles_and_passing_runs_nothing,
        ),
        ("root_then_nobody_both_pass_run", root_then_nobody_run),
        ("root_then_nobody_both_pass_up", root_then_nobody_up),
        (
            "root_then_nobody_both_pass_run_on_postgres",
            root_then_nobody_postgres,
        ),
    ];
    for label in labels {
        for (check_name, check) in checks {
            // The kill, parallel and multi-user tests need only one binary.
            let once = check_name.starts_with("sigkill")
                || check_name.starts_with("four")
                || check_name.starts_with("failing_runs")
                || check_name.starts_with("root_then_nobody");
            if once && label != "candidate" {
                continue;
            }
            let name = format!("e2e::{check_name}@{label}");
            let m = machine.clone();
            let trial = Trial::test(name, move || check(&m, label));
            if let Some(why) = check_name
                .starts_with("root_then_nobody")
                .then(cannot_switch_users)
                .flatten()
            {
                suite.skip_here(trial, why);
                continue;
            }
            let missing = machine.missing(&[label.to_string()]).or_else(|| {
                check_name
                    .contains("postgres")
                    .then(|| {
                        cln_harness::postgres::PgBins::find()
                            .err()
                            .map(|e| e.to_string())
                    })
                    .flatten()
            });
            suite.add(trial, missing);
        }
    }
    suite.run(&machine, &args)
}
