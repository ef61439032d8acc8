//! The pull request's template-diff comments, through GitHub's REST API: one comment per
//! environment, found again by a marker on its first line and edited in place, so that each
//! environment's diff survives the others' and a new push updates it instead of adding more.
//!
//! The API's address comes from `GITHUB_API_URL` (GitHub sets it in workflows; the tests point
//! it at a local server that replays recorded answers).

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use serde_json::json;

/// GitHub refuses comment bodies over 65,536 characters.
pub const MAX_BODY_CHARS: usize = 65_536;

/// Comments per page when listing (GitHub's maximum).
const PER_PAGE: usize = 100;

/// The first line of an environment's comment: how the next run finds it.
pub fn marker(environment: &str) -> String {
    format!("<!-- brain2-diff: {environment} -->")
}

/// The comment's body: the marker, then the diff, cut to GitHub's limit with a note.
pub fn comment_body(environment: &str, diff: &str) -> String {
    let head = format!("{}\n", marker(environment));
    let note = "\n\n_The diff is longer than a comment may be; run `cargo xtask diff` for all of it._\n";
    if head.chars().count() + diff.chars().count() <= MAX_BODY_CHARS {
        return head + diff;
    }
    let keep = MAX_BODY_CHARS - head.chars().count() - note.chars().count();
    head + &diff.chars().take(keep).collect::<String>() + note
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: String,
    pub user: Option<User>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl Comment {
    /// Written by a bot (the workflow's token) and starting with the environment's marker: a
    /// person's comment that quotes the marker is never taken over.
    fn is_diff_of(&self, environment: &str) -> bool {
        self.user.as_ref().is_some_and(|u| u.kind == "Bot") && self.body.lines().next() == Some(&marker(environment))
    }
}

/// What [`Github::post_diff`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    Created(u64),
    Updated(u64),
}

/// A client of GitHub's REST API for one repository.
#[derive(Debug, Clone)]
pub struct Github {
    api: String,
    repository: String,
    token: String,
    http: reqwest::Client,
}

impl Github {
    /// `api`: e.g. `https://api.github.com`; `repository`: `owner/name`.
    pub fn new(api: &str, repository: &str, token: &str) -> Result<Self> {
        if repository.split('/').filter(|p| !p.is_empty()).count() != 2 {
            bail!("{repository:?} is not a repository: expected owner/name (GITHUB_REPOSITORY or --repository)");
        }
        let http = reqwest::Client::builder()
            .user_agent("brain2-xtask")
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("making the HTTP client")?;
        Ok(Self {
            api: api.trim_end_matches('/').to_owned(),
            repository: repository.to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    /// One call; a refusal becomes an error naming the call, GitHub's status and message, and
    /// for 401/403 what the token lacks. No retries: a second post could duplicate a comment.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let url = format!("{}{path}", self.api);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("{method} {url}: GitHub did not answer"))?;
        let status = response.status();
        let text = response.text().await.with_context(|| format!("{method} {url}: reading GitHub's answer"))?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| text.chars().take(200).collect());
            let hint = match status.as_u16() {
                401 => "; the token is missing or invalid (GITHUB_TOKEN)",
                403 | 404 => "; the workflow's token needs `pull-requests: write` on this repository",
                _ => "",
            };
            bail!("{method} {url}: GitHub answered {status}: {message}{hint}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {url}: GitHub's answer is not JSON"))
    }

    /// Every comment of the pull request (its issue), oldest first.
    pub async fn comments(&self, pull_request: u64) -> Result<Vec<Comment>> {
        let mut all = Vec::new();
        for page in 1.. {
            let path =
                format!("/repos/{}/issues/{pull_request}/comments?per_page={PER_PAGE}&page={page}", self.repository);
            let value = self.call(reqwest::Method::GET, &path, None).await?;
            let comments: Vec<Comment> =
                serde_json::from_value(value).with_context(|| format!("GET {path}: not a list of comments"))?;
            let full = comments.len() == PER_PAGE;
            all.extend(comments);
            if !full {
                break;
            }
        }
        Ok(all)
    }

    /// Puts `diff` in the environment's comment on the pull request: edits it in place when
    /// there is one, else creates it.
    pub async fn post_diff(&self, pull_request: u64, environment: &str, diff: &str) -> Result<Posted> {
        let body = comment_body(environment, diff);
        let existing = self.comments(pull_request).await?.into_iter().find(|c| c.is_diff_of(environment));
        match existing {
            Some(comment) => {
                let path = format!("/repos/{}/issues/comments/{}", self.repository, comment.id);
                self.call(reqwest::Method::PATCH, &path, Some(json!({ "body": body }))).await?;
                Ok(Posted::Updated(comment.id))
            }
            None => {
                let path = format!("/repos/{}/issues/{pull_request}/comments", self.repository);
                let created = self.call(reqwest::Method::POST, &path, Some(json!({ "body": body }))).await?;
                let id =
                    created["id"].as_u64().with_context(|| format!("POST {path}: the answer has no comment id"))?;
                Ok(Posted::Created(id))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_diff_is_cut_to_github_s_limit_with_a_note() {
        let body = comment_body("prod", &"x".repeat(100_000));
        assert_eq!(body.chars().count(), MAX_BODY_CHARS);
        assert!(body.starts_with("<!-- brain2-diff: prod -->\n") && body.ends_with("for all of it._\n"));
        assert_eq!(comment_body("dev", "short"), "<!-- brain2-diff: dev -->\nshort");
    }
}
