//! The GitHub workflows' security invariants: deploy jobs assume a role through OIDC and no
//! workflow reads stored AWS keys. (actionlint cannot be installed on this network; see the
//! README's CI section.)

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
