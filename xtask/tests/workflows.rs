//! The GitHub workflows' security invariants: deploy jobs assume a role through OIDC, no
//! workflow reads stored AWS keys, and nothing deploys before the full checks pass. Two pinned
//! tools check them too: check-jsonschema against its vendored GitHub Workflows schema, and
//! zizmor's security audit (offline: the audits that ask GitHub's API are skipped).
//! (actionlint cannot be installed on this network; see the README's CI section.)

fn workflows() -> Vec<(String, String)> {
    let dir = xtask::workspace_root().join(".github/workflows");
    let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    found.sort();
    found
}

/// Runs a tool from the pinned Python tools over the workflows; its output on failure.
fn tool(name: &str, args: &[&str]) -> Result<String, String> {
    let workspace = xtask::workspace_root();
    let program = xtask::pytools::bin(&workspace, name);
    assert!(program.exists(), "{} is missing: run `cargo xtask py-tools`", program.display());
    let paths: Vec<std::path::PathBuf> =
        workflows().iter().map(|(file, _)| workspace.join(".github/workflows").join(file)).collect();
    let output = std::process::Command::new(&program).args(args).args(&paths).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() { Ok(text) } else { Err(text) }
}

#[test]
fn the_workflows_match_github_s_schema() {
    if let Err(report) = tool("check-jsonschema", &["--builtin-schema", "vendor.github-workflows"]) {
        panic!("check-jsonschema:\n{report}");
    }
}

/// Zero findings: actions pinned to commit SHAs, checkouts without persisted credentials,
/// event values passed to shells as variables, no build cache in the release workflow.
#[test]
fn zizmor_finds_nothing_in_the_workflows() {
    match tool("zizmor", &["--offline", "--no-progress"]) {
        Ok(report) => println!("{report}"),
        Err(report) => panic!("zizmor:\n{report}"),
    }
}

#[test]
fn no_workflow_uses_stored_aws_keys_and_deploys_use_oidc() {
    let all = workflows();
    assert_eq!(all.len(), 3);
    for (name, text) in &all {
        for forbidden in ["aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"] {
            assert!(!text.contains(forbidden), "{name} mentions {forbidden}");
        }
        assert!(!text.contains('\t'), "{name} has a tab");
        if text.contains("cargo xtask deploy") {
            assert!(text.contains("id-token: write"), "{name} deploys without OIDC permission");
            assert!(text.contains("role-to-assume:"), "{name} deploys without assuming a role");
        }
    }
}

#[test]
fn prod_deploys_only_from_tags_behind_the_prod_environment() {
    let all = workflows();
    let release = &all.iter().find(|(n, _)| n == "release.yml").unwrap().1;
    assert!(release.contains("tags:") && release.contains("environment: prod"));
    let main = &all.iter().find(|(n, _)| n == "main.yml").unwrap().1;
    assert!(!main.contains("--env prod"));
    let pull_request = &all.iter().find(|(n, _)| n == "pull-request.yml").unwrap().1;
    assert!(pull_request.contains("--format markdown") && pull_request.contains("allow-destructive"));
    assert!(!pull_request.contains("id-token"), "pull requests get no AWS access");
}

/// Each environment's diff has its own comment, edited in place by later pushes
/// (`cargo xtask pr-comment`, tested in pr_comment.rs): `gh pr comment --edit-last` from three
/// jobs made every job overwrite the same comment. One job diffs all three environments, so
/// xtask and the base revision's synth are built once.
#[test]
fn each_environment_s_diff_has_a_comment_of_its_own() {
    let all = workflows();
    let pull_request = &all.iter().find(|(n, _)| n == "pull-request.yml").unwrap().1;
    assert!(!pull_request.contains("--edit-last") && !pull_request.contains("gh pr comment"));
    assert!(pull_request.contains("cargo xtask pr-comment --env \"$environment\""));
    assert!(pull_request.contains("for environment in dev staging prod"));
    assert!(!pull_request.contains("matrix:"), "one job for the three environments");
    for environment in ["dev", "staging", "prod"] {
        assert!(pull_request.contains(&format!("steps.diff.outputs.{environment} == '3'")), "{environment}");
        // Any exit but 0 and 3 (an error, a panic, a kill) fails the job.
        let failed = format!("(steps.diff.outputs.{environment} != '0' && steps.diff.outputs.{environment} != '3')");
        assert!(pull_request.contains(&failed), "{environment}");
    }
}

/// The jobs of a workflow: name → (its text, the jobs it needs). A line-based reading of the
/// two-space-indented `jobs:` map these workflows are written in.
fn jobs(text: &str) -> std::collections::BTreeMap<String, (String, Vec<String>)> {
    let mut jobs = std::collections::BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_jobs = false;
    for line in text.lines() {
        if line == "jobs:" {
            in_jobs = true;
            continue;
        }
        if !in_jobs {
            continue;
        }
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')).filter(|n| !n.starts_with(' ')) {
            current = Some(name.to_owned());
            jobs.insert(name.to_owned(), (String::new(), Vec::new()));
            continue;
        }
        let Some(name) = &current else { continue };
        let entry = jobs.get_mut(name).unwrap();
        entry.0.push_str(line);
        entry.0.push('\n');
        if let Some(needs) = line.trim().strip_prefix("needs:") {
            entry.1 = needs.trim().trim_matches(['[', ']']).split(',').map(|n| n.trim().to_owned()).collect();
        }
    }
    jobs
}

#[test]
fn every_deploy_runs_after_the_full_checks() {
    for (name, text) in workflows() {
        let jobs = jobs(&text);
        for (job, (body, _)) in &jobs {
            if !body.contains("cargo xtask deploy") {
                continue;
            }
            // Walk what the job needs, transitively, looking for the job that runs .ci/run.
            let mut pending = vec![job.clone()];
            let mut seen = std::collections::BTreeSet::new();
            let mut gated = false;
            while let Some(next) = pending.pop() {
                if !seen.insert(next.clone()) {
                    continue;
                }
                let (body, needs) = &jobs[&next];
                gated |= next != *job && body.contains("run: ./.ci/run");
                pending.extend(needs.iter().cloned());
            }
            assert!(
                gated,
                "{name}: job {job} deploys without needing a job that runs ./.ci/run (fmt, clippy, cargo xtask test)"
            );
        }
    }
}

#[test]
fn the_job_reader_sees_needs() {
    let text =
        "on: push\njobs:\n  a:\n    steps:\n      - run: ./.ci/run\n  b:\n    needs: [a, c]\n  c:\n    needs: a\n";
    let jobs = jobs(text);
    assert_eq!(jobs["b"].1, ["a", "c"]);
    assert_eq!(jobs["c"].1, ["a"]);
    assert!(jobs["a"].0.contains("./.ci/run"));
}
