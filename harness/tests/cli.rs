//! The exit-code contract at the command line, where `git bisect run`, CI
//! and release gates meet it. These start no daemon: every case must be
//! decided before anything runs, whatever this machine has installed.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn harness(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cln-harness"));
    cmd.args(args).current_dir(root());
    cmd.env_remove("CLN_HARNESS_LIGHTNINGD_CANDIDATE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the cln-harness binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn bitcoind_installed() -> bool {
    cln_harness::binaries::resolve_bitcoind(None).is_ok()
}

/// The bug report: `--lightningd candidate=/nonexistent/lightningd` passed
/// (exit 0) on the newest installed build. In a bisect script, one typo
/// marks every commit good.
#[test]
fn an_unusable_explicit_lightningd_is_exit_125_never_a_substitute() {
    let keysend = "scenarios/keysend.toml";
    // (arguments, environment)
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (
            vec![
                "--lightningd".into(),
                "candidate=/nonexistent/lightningd".into(),
            ],
            vec![],
        ),
        (
            vec!["--lightningd".into(), "candidate=/bin/false".into()],
            vec![],
        ),
        (
            vec![
                "--lightningd".into(),
                "candidate=v0.0.0-not-installed".into(),
            ],
            vec![],
        ),
        (
            vec![],
            vec![(
                "CLN_HARNESS_LIGHTNINGD_CANDIDATE",
                "/nonexistent/lightningd",
            )],
        ),
    ];
    for (extra, env) in cases {
        let mut args = vec!["run", keysend];
        args.extend(extra.iter().map(String::as_str));
        let o = harness(&args, &env);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(125), "{args:?} {env:?}: {t}");
        if bitcoind_installed() {
            assert!(
                t.contains("never replaced") && t.contains("candidate"),
                "{args:?} {env:?}: {t}"
            );
        }
    }
}

#[test]
fn binaries_shows_the_same_verdict() {
    let o = harness(
        &[
            "binaries",
            "--lightningd",
            "candidate=/nonexistent/lightningd",
        ],
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(125), "{t}");
    assert!(
        t.contains("UNUSABLE") && t.contains("/nonexistent/lightningd"),
        "{t}"
    );
}

/// The bug report: `path = "id[0]]"` panicked the harness (exit 101).
#[test]
fn a_malformed_path_is_a_located_usage_error() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("bad.toml");
    std::fs::write(&f, "[[steps]]\ndo = \"rpc\"\nnode = \"alice\"\nmethod = \"getinfo\"\nexpect.fields = [{ path = \"id[0]]\", exists = true }]\n").unwrap();
    let o = harness(&["run", &f.display().to_string()], &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("bad.toml:5:") && t.contains("`]` without an opening `[`"),
        "{t}"
    );
}

/// The bug report: an unwritable TMPDIR panicked instead of ending in `error`.
#[test]
fn an_unwritable_tmpdir_is_an_environment_error() {
    let o = harness(
        &["run", "scenarios/keysend.toml"],
        &[("TMPDIR", "/nonexistent/tmp")],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(125), "{t}");
    if bitcoind_installed() {
        assert!(t.contains("cannot create a run dir"), "{t}");
    }
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn a_missing_scenario_file_is_a_usage_error() {
    let o = harness(&["run", "no/such/file.toml"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn check_db_explain_lists_every_check_with_its_schema_range() {
    let o = harness(&["check-db", "--explain"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    for id in [
        "integrity",
        "created-index/htlcs",
        "moves/chain-once",
        "moves/balance",
        "payments/complete-not-all-failed",
    ] {
        assert!(t.contains(id), "{id}: {t}");
    }
    let o = harness(&["check-db"], &[]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "no path and no --explain is a usage error: {}",
        text(&o)
    );
}

/// `build` and `bisect --good/--bad` on something that is not a commit:
/// a usage problem the user can fix, decided before anything builds.
#[test]
fn build_and_bisect_name_a_ref_that_is_not_there() {
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let st = Command::new("git")
            .arg("-C")
            .arg(repo.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .status()
            .unwrap();
        assert!(st.success());
    };
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "one"]);
    let cache = tempfile::tempdir().unwrap();
    let cache_env = [("CLN_HARNESS_CACHE", cache.path().to_str().unwrap())];
    let repo_arg = repo.path().to_str().unwrap();
    let o = harness(&["build", "--repo", repo_arg, "v99.99"], &cache_env);
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    assert!(
        text(&o).contains("`v99.99` is not a commit here"),
        "{}",
        text(&o)
    );
    let o = harness(
        &[
            "bisect",
            "scenarios/keysend.toml",
            "--repo",
            repo_arg,
            "--good",
            "v99.99",
            "--bad",
            "HEAD",
        ],
        &cache_env,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("`v99.99` is not a commit here"),
        "{}",
        text(&o)
    );
    let o = harness(
        &[
            "bisect",
            "scenarios/keysend.toml",
            "--good",
            "a",
            "--labels",
            "x,y",
        ],
        &cache_env,
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "--labels and --good are two modes: {}",
        text(&o)
    );
}

/// The issue (many users, one machine): a shared path another user had
/// made, which this user could not write, ended in `error` with a message
/// blaming the port range. A permission problem names the path, whose it
/// is, its mode and the permission this user lacks, with exit 125.
#[test]
fn a_tmpdir_this_user_cannot_write_names_the_dir_and_the_permission() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if is_root && !setpriv.exists() {
        return; // root may write anywhere; nobody is reached through setpriv
    }
    let t = tempfile::tempdir().unwrap();
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(t.path(), 0o755);
    // bitcoind is resolved (a file with bitcoin-cli beside it) before the
    // run dir is made; these are never started.
    let btc = t.path().join("bin");
    std::fs::create_dir(&btc).unwrap();
    for f in ["bitcoind", "bitcoin-cli"] {
        std::fs::write(btc.join(f), "").unwrap();
        mode(&btc.join(f), 0o755);
    }
    let tmp = t.path().join("shared-tmp");
    std::fs::create_dir(&tmp).unwrap();
    mode(&tmp, 0o555);
    let bitcoind = btc.join("bitcoind").display().to_string();
    let args = ["run", "scenarios/keysend.toml", "--bitcoind", &bitcoind];
    let mut cmd = if is_root {
        let mut c = Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(env!("CARGO_BIN_EXE_cln-harness"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_cln-harness"))
    };
    let o = cmd
        .args(args)
        .current_dir(root())
        .env("TMPDIR", &tmp)
        .env("HOME", t.path())
        .env_remove("CLN_HARNESS_LIGHTNINGD_CANDIDATE")
        .output()
        .unwrap();
    let t_out = text(&o);
    if is_root && t_out.contains("Permission denied") && !t_out.contains("cannot create a run dir")
    {
        return; // the test binary itself is out of nobody's reach here
    }
    assert_eq!(o.status.code(), Some(125), "{t_out}");
    assert!(
        t_out.contains(&format!("{} is dr-xr-xr-x, owned by", tmp.display())),
        "{t_out}"
    );
    assert!(
        t_out.contains("needs write and search (wx) permission"),
        "{t_out}"
    );
    assert!(!t_out.contains("panicked"), "{t_out}");
}

/// The issue: `--labels` help did not say that `--find-fix` reverses which
/// end must pass, and bisect's exit codes were documented nowhere but in
/// a line that sent "not fixed" to 2, bad input.
#[test]
fn bisect_help_says_which_end_must_pass_and_every_exit_code() {
    let o = harness(&["bisect", "--help"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let help = text(&o);
    let labels = &help[help.find("--labels").expect("--labels is documented")..];
    let labels = &labels[..labels.find("\n  -").unwrap_or(labels.len())];
    assert!(labels.contains("--find-fix"), "{labels}");
    for line in [
        "0    first_bad / first_fixed",
        "1    not_fixed",
        "1    ends_wrong",
        "2    bad input only",
        "125  could_not_test",
        "125  among_skipped",
    ] {
        assert!(help.contains(line), "`{line}` missing from:\n{help}");
    }
}

/// The issue: "A label that could not be tested shows as `skip error`,
/// with no reason, in the text and in `--json`." A label that is not
/// installed is decided before any daemon starts.
#[test]
fn a_bisect_label_that_could_not_be_tested_says_why_and_exits_125() {
    if !bitcoind_installed() {
        return; // the bisect stops at "no bitcoind" first (125, tested above)
    }
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("bisect.json");
    let o = harness(
        &[
            "bisect",
            "scenarios/keysend.toml",
            "--find-fix",
            "--labels",
            "v0.0.1-not-installed,v0.0.2-not-installed",
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains("skip") && first.contains("error: no lightningd for `candidate`"),
        "{}",
        text(&o)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["answer"], "could_not_test");
    let reason = report["tested"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("error: no lightningd"), "{report}");
    assert!(
        text(&o)
            .contains("bisect: cannot search: v0.0.1-not-installed could not be tested (error: "),
        "{}",
        text(&o)
    );
}
