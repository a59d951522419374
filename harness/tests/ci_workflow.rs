//! ci/github-actions.yml is meant to be copied into other repositories, so
//! it must not drift from this one: every script it calls exists, every
//! `cln-harness` subcommand and flag it uses is real, it shards one nextest
//! archive the way ci/shard-local.sh does, and it uploads JUnit and bundles
//! even when tests fail.

use clap::CommandFactory;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn workflow() -> yaml_serde::Value {
    let text = std::fs::read_to_string(root().join("ci/github-actions.yml")).unwrap();
    yaml_serde::from_str(&text).expect("ci/github-actions.yml is valid YAML")
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
    let w = workflow();
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
            let mut words = rest.split_whitespace();
            let sub = words.next().unwrap();
            let cmd = cli
                .find_subcommand(sub)
                .unwrap_or_else(|| panic!("`cln-harness {sub}` is not a subcommand: {line}"));
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
    let w = workflow();
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
