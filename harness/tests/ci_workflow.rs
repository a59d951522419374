//! ci/github-actions.yml and ci/github-actions-cln-fork.yml are meant to be
//! copied into other repositories, so they must not drift from this one:
//! every script they call exists, every `cln-harness` subcommand and flag
//! they use is real, they shard one nextest archive the way
//! ci/shard-local.sh (and ci/pr-gate-local.sh) do, they upload JUnit and
//! bundles even when tests fail, and every job meant to have binaries
//! sets CLN_HARNESS_REQUIRE_BINARIES=1 and installs what the suite names.

use clap::CommandFactory;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

const WORKFLOWS: [&str; 2] = ["ci/github-actions.yml", "ci/github-actions-cln-fork.yml"];

fn workflow_at(path: &str) -> yaml_serde::Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

fn workflow() -> yaml_serde::Value {
    workflow_at("ci/github-actions.yml")
}

fn fork() -> yaml_serde::Value {
    workflow_at("ci/github-actions-cln-fork.yml")
}

/// The `run` lines of one job.
fn job_runs(w: &yaml_serde::Value, job: &str) -> String {
    w["jobs"][job]["steps"]
        .as_sequence()
        .unwrap_or_else(|| panic!("no job {job}"))
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every step of every job: (job, step).
fn steps(w: &yaml_serde::Value) -> Vec<(String, yaml_serde::Value)> {
    let mut out = Vec::new();
    for (job, body) in w["jobs"].as_mapping().expect("jobs") {
        for step in body["steps"].as_sequence().expect("steps") {
            out.push((job.as_str().unwrap().to_string(), step.clone()));
        }
    }
    out
}

fn runs(w: &yaml_serde::Value) -> Vec<String> {
    steps(w)
        .into_iter()
        .filter_map(|(_, s)| s["run"].as_str().map(String::from))
        .collect()
}

#[test]
fn it_builds_once_and_shards_the_archive_like_the_local_script() {
    let w = workflow();
    let runs = runs(&w).join("\n");
    let archive = "cargo nextest archive --workspace --profile ci --archive-file";
    assert!(runs.contains(archive), "{runs}");
    assert!(runs.contains("cargo nextest run --archive-file nextest.tar.zst --workspace-remap . --profile ci --partition hash:"), "{runs}");
    let local = std::fs::read_to_string(root().join("ci/shard-local.sh")).unwrap();
    assert!(
        local.contains(archive)
            && local
                .contains("--workspace-remap . --profile ci --partition \"hash:$shard/$SHARDS\""),
        "{local}"
    );
    // The job matrix crosses shards with base → candidate paths.
    let matrix = &w["jobs"]["test"]["strategy"]["matrix"];
    assert!(matrix["shard"].as_sequence().is_some_and(|s| s.len() > 1));
    assert!(matrix["path"].as_sequence().is_some_and(|p| p
        .iter()
        .all(|x| x["base"].is_string() && x["candidate"].is_string())));
}

#[test]
fn the_scripts_and_cln_harness_commands_it_runs_exist() {
    for path in WORKFLOWS {
        scripts_and_commands_exist(&workflow_at(path));
    }
}

fn scripts_and_commands_exist(w: &yaml_serde::Value) {
    let w = w.clone();
    let cli = cln_harness::cli::Cli::command();
    let mut checked = 0;
    for run in runs(&w) {
        for word in run.split_whitespace() {
            if let Some(script) = word.strip_prefix("ci/") {
                let p = root().join("ci").join(script);
                assert!(
                    p.is_file(),
                    "the workflow runs ci/{script}, which is not in this repo"
                );
                checked += 1;
            }
        }
        for line in run.lines() {
            let Some(rest) = line.split("cln-harness ").nth(1) else {
                continue;
            };
            let mut words = rest.split_whitespace().peekable();
            let sub = words.next().unwrap();
            let mut cmd = cli
                .find_subcommand(sub)
                .unwrap_or_else(|| panic!("`cln-harness {sub}` is not a subcommand: {line}"));
            // `explore merge ...`: the flags are the nested subcommand's.
            while let Some(nested) = words.peek().and_then(|w| cmd.find_subcommand(w)) {
                cmd = nested;
                words.next();
            }
            let longs: Vec<String> = cmd
                .get_arguments()
                .filter_map(|a| a.get_long().map(String::from))
                .collect();
            for flag in words.filter_map(|w| w.strip_prefix("--")) {
                assert!(
                    longs.iter().any(|l| l == flag),
                    "`cln-harness {sub} --{flag}` does not exist: {line}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} commands checked");
}

#[test]
fn junit_and_bundles_are_uploaded_even_when_tests_fail() {
    for path in WORKFLOWS {
        uploads_on_failure(&workflow_at(path));
    }
}

fn uploads_on_failure(w: &yaml_serde::Value) {
    let w = w.clone();
    let nextest = std::fs::read_to_string(root().join(".config/nextest.toml")).unwrap();
    assert!(nextest.contains("[profile.ci.junit]") && nextest.contains("path = \"junit.xml\""));
    let uploads: Vec<String> = steps(&w)
        .into_iter()
        .filter(|(_, s)| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
                && s["if"].as_str() == Some("always()")
        })
        .map(|(_, s)| s["with"]["path"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        uploads
            .iter()
            .any(|p| p.contains("target/nextest/ci/junit.xml")),
        "{uploads:?}"
    );
    assert!(
        uploads
            .iter()
            .any(|p| p.contains("/tmp/cln-harness-*/bundle")),
        "{uploads:?}"
    );
    assert!(
        uploads.iter().any(|p| p.contains("gate.xml")),
        "{uploads:?}"
    );
}

/// The issue: "The CI can go green by skipping." Every job that runs the
/// suite, builds or gates sets CLN_HARNESS_REQUIRE_BINARIES=1 (its own env
/// or the workflow's), and so does `.ci/run`.
#[test]
fn every_job_meant_to_have_binaries_requires_them() {
    for path in WORKFLOWS {
        let w = workflow_at(path);
        let global = w["env"]["CLN_HARNESS_REQUIRE_BINARIES"].as_u64() == Some(1);
        for (job, body) in w["jobs"].as_mapping().unwrap() {
            let job = job.as_str().unwrap();
            let runs = job_runs(&w, job);
            let meant = runs.contains("nextest run")
                || runs.contains("cln-harness matrix")
                || runs.contains("cln-harness build");
            if meant {
                assert!(
                    global || body["env"]["CLN_HARNESS_REQUIRE_BINARIES"].as_u64() == Some(1),
                    "{path}: job `{job}` runs with binaries but does not set CLN_HARNESS_REQUIRE_BINARIES=1"
                );
            }
        }
    }
    let run = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        run.contains("export CLN_HARNESS_REQUIRE_BINARIES=1"),
        "{run}"
    );
}

/// Under CLN_HARNESS_REQUIRE_BINARIES=1 a label the suite names but the job
/// lacks is a failure: the jobs install every release the suite names and
/// build its one commit.
#[test]
fn the_workflows_provide_every_build_the_suite_names() {
    let mut named = std::collections::BTreeSet::new();
    for f in [
        "ci/matrix.toml",
        "fixtures/verdicts/cases.toml",
        "harness/tests/e2e.rs",
        "harness/tests/scenarios.rs",
    ] {
        let text = std::fs::read_to_string(root().join(f)).unwrap();
        for quoted in text.split('"').skip(1).step_by(2) {
            let release = quoted.strip_prefix('v').is_some_and(|r| {
                let parts: Vec<&str> = r.split('.').collect();
                (2..=3).contains(&parts.len())
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            });
            if release || quoted == "1cc64dd67" {
                named.insert(quoted.to_string());
            }
        }
    }
    assert!(
        named.contains("v25.05") && named.contains("1cc64dd67"),
        "{named:?}"
    );
    for path in WORKFLOWS {
        let w = workflow_at(path);
        let env = |k: &str| w["env"][k].as_str().unwrap_or_default().to_string();
        let provided: Vec<String> = env("SUITE_RELEASES")
            .split_whitespace()
            .map(String::from)
            .chain([env("SUITE_COMMIT")])
            .collect();
        for label in &named {
            assert!(
                provided.contains(label),
                "{path} does not provide {label}: {provided:?}"
            );
        }
        let all = runs(&w).join("\n");
        assert!(
            all.contains("install ${{ env.SUITE_RELEASES }}")
                || all.contains("${{ env.SUITE_RELEASES }}"),
            "{path}"
        );
        assert!(
            all.contains("build --repo lightning") && all.contains("${{ env.SUITE_COMMIT }}"),
            "{path}"
        );
        // The suite asks for the commit by its short id; the build is installed under `git describe`.
        assert_eq!(
            env("CLN_HARNESS_LIGHTNINGD_1CC64DD67"),
            "v25.02-321-g1cc64dd67",
            "{path}"
        );
    }
}

/// The issue: "The workflow never tests a pull request's own code." The
/// fork's gate builds the PR head with `cln-harness build` (cached by
/// commit), installs the last releases as `base`, and runs the shards
/// and the gate over base → that build.
#[test]
fn the_fork_workflow_gates_the_pull_requests_own_build_against_the_last_releases() {
    let w = fork();
    let candidate = job_runs(&w, "candidate");
    assert!(
        candidate.contains("cln-harness build --repo lightning HEAD"),
        "{candidate}"
    );
    assert!(
        candidate.contains("git -C lightning describe --tags --always HEAD"),
        "{candidate}"
    );
    let cached = w["jobs"]["candidate"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/cache"))
                && s["with"]["path"].as_str() == Some("~/.cache/cln-harness/lightningd")
                && s["with"]["key"]
                    .as_str()
                    .is_some_and(|k| k.contains("github.sha"))
        });
    assert!(cached, "the candidate's build is cached by commit");
    let checkout_depth = w["jobs"]["candidate"]["steps"][0]["with"]["fetch-depth"].as_u64();
    assert_eq!(checkout_depth, Some(0), "`git describe` needs the tags");
    for job in ["test", "gate"] {
        let bases = w["jobs"][job]["strategy"]["matrix"]["base"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{job}: a matrix of bases"));
        assert!(!bases.is_empty());
        for b in bases {
            let b = b.as_str().unwrap();
            let parts: Vec<&str> = b.trim_start_matches('v').split('.').collect();
            assert!(
                b.starts_with('v')
                    && parts.len() >= 2
                    && parts.iter().all(|p| p.parse::<u32>().is_ok()),
                "{job}: base {b} is not a release"
            );
        }
        let runs = job_runs(&w, job);
        assert!(
            runs.contains("cln-harness install ${{ matrix.base }}")
                || runs.contains("cln-harness install ${{ env.SUITE_RELEASES }}"),
            "{runs}"
        );
        let needs: Vec<&str> = w["jobs"][job]["needs"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|n| n.as_str())
            .collect();
        assert!(needs.contains(&"candidate"), "{job}: {needs:?}");
    }
    assert_eq!(
        w["jobs"]["test"]["env"]["CLN_HARNESS_LIGHTNINGD_CANDIDATE"].as_str(),
        Some("${{ needs.candidate.outputs.label }}")
    );
    assert!(w["jobs"]["test"]["strategy"]["matrix"]["shard"]
        .as_sequence()
        .is_some_and(|s| s.len() > 1));
    let test = job_runs(&w, "test");
    assert!(test.contains("cargo nextest run --archive-file nextest.tar.zst --workspace-remap . --profile ci --partition hash:"), "{test}");
    let gate = job_runs(&w, "gate");
    assert!(
        gate.contains(
            "cln-harness matrix --versions ${{ matrix.base }} ${{ needs.candidate.outputs.label }}"
        ),
        "{gate}"
    );
    assert!(
        gate.contains("--markdown gate.md") && gate.contains("gate.md >> \"$GITHUB_STEP_SUMMARY\""),
        "{gate}"
    );
}

/// ci/pr-gate-local.sh runs the fork workflow's build, shard and gate
/// commands on a local checkout.
#[test]
fn the_local_pr_gate_script_runs_the_fork_workflows_commands() {
    let local = std::fs::read_to_string(root().join("ci/pr-gate-local.sh")).unwrap();
    for cmd in [
        "export CLN_HARNESS_REQUIRE_BINARIES=1",
        "describe --tags --always \"$REF\"",
        "build --repo \"$CLN\" \"$REF\"",
        "install \"$BASE\"",
        "cargo nextest archive --workspace --profile ci --archive-file",
        "--workspace-remap . --profile ci --partition \"hash:$shard/$SHARDS\"",
        "matrix --versions \"$BASE\" \"$LABEL\" --jobs 2 --junit target/gate.xml --markdown target/gate.md",
    ] {
        assert!(local.contains(cmd), "ci/pr-gate-local.sh lacks `{cmd}`");
    }
    let fork = fork()["env"]["SHARDS"].as_u64();
    assert_eq!(fork, Some(4));
    assert!(local.contains("SHARDS=${SHARDS:-4}"));
}

/// The issue: "`ci/explore-nightly.yml` runs N shards × upgrade paths on
/// GitHub Actions, each uploading its findings", and `explore merge` makes
/// them one report. ci/explore-local.sh runs the same commands here.
#[test]
fn the_nightly_campaign_shards_explore_and_merges_every_shard() {
    let w = workflow_at("ci/explore-nightly.yml");
    scripts_and_commands_exist(&w);
    assert_eq!(w["env"]["CLN_HARNESS_REQUIRE_BINARIES"].as_u64(), Some(1));
    let shards = w["env"]["SHARDS"].as_u64().expect("SHARDS");
    let matrix = &w["jobs"]["explore"]["strategy"]["matrix"];
    assert_eq!(
        matrix["shard"].as_sequence().map(|s| s.len() as u64),
        Some(shards),
        "one job per shard"
    );
    assert!(matrix["path"].as_sequence().is_some_and(|p| p.len() > 1
        && p.iter()
            .all(|x| x["base"].is_string() && x["candidate"].is_string())));
    let explore = job_runs(&w, "explore");
    assert!(
        explore.contains("--shard ${{ matrix.shard }}/${{ env.SHARDS }}")
            && explore.contains("--out findings"),
        "{explore}"
    );
    let uploads_findings = steps(&w).into_iter().any(|(job, s)| {
        job == "explore"
            && s["if"].as_str() == Some("always()")
            && s["with"]["path"].as_str() == Some("findings")
    });
    assert!(
        uploads_findings,
        "each shard uploads its findings, found or not"
    );
    let merge = &w["jobs"]["merge"];
    assert_eq!(merge["needs"].as_str(), Some("explore"));
    assert_eq!(
        merge["if"].as_str(),
        Some("always()"),
        "a failing shard still gets merged"
    );
    let merge_runs = job_runs(&w, "merge");
    assert!(
        merge_runs.contains("cln-harness explore merge shards/* --out merged")
            && merge_runs.contains("merged/summary.md >> \"$GITHUB_STEP_SUMMARY\""),
        "{merge_runs}"
    );
    // Every path's releases are installed for the merge's recheck.
    let paths = matrix["path"].as_sequence().unwrap();
    for p in paths {
        for role in ["base", "candidate"] {
            let label = p[role].as_str().unwrap();
            assert!(merge_runs.contains(label), "merge does not install {label}");
        }
    }
    let local = std::fs::read_to_string(root().join("ci/explore-local.sh")).unwrap();
    assert!(
        local.contains(
            "explore --base \"$BASE\" --candidate \"$CANDIDATE\" --shard \"$shard/$SHARDS\""
        ) && local.contains("explore merge \"${dirs[@]}\""),
        "{local}"
    );
}
