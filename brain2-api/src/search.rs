//! `GET /api/search?q=&cursor=`: every memory of the caller that matches the query, ranked.
//!
//! A query is words and tags, separated by spaces. `tag:x` (or `#x`) matches the memories
//! tagged `x` (any case); any other word matches a memory whose keywords hold it, or one that
//! starts with it (`gra` finds "graph"). Words are normalized as keywords are (lowercased,
//! apostrophes dropped, scripts without spaces as character bigrams).
//!
//! Ranking: memories matching more of the query's terms first; among those, the higher score
//! (an exact word or a tag counts [`EXACT_SCORE`], a prefix [`PREFIX_SCORE`]); then the newest.
//! Pages follow that order exactly, however broad the query (up to 20,000 postings a term; past
//! that, a term ranks among its first 20,000 in keyword order); only `total` may be a lower
//! bound.

use serde::{Deserialize, Serialize};

use crate::{NodeId, NodeView};

/// A query is 1 to this many characters, and holds a character that is not whitespace.
pub const MAX_QUERY_CHARS: usize = 200;
/// The first this many terms of a query are searched; the rest are ignored.
pub const MAX_QUERY_TERMS: usize = 8;
/// A page holds this many results.
pub const SEARCH_PAGE_SIZE: usize = 20;
/// A word shorter than this (in characters) matches only whole keywords, not prefixes: a
/// one-letter prefix would match most of a large graph.
pub const MIN_PREFIX_CHARS: usize = 2;
/// Score of a term that equals a keyword or a tag.
pub const EXACT_SCORE: u32 = 4;
/// Score of a word that starts a longer keyword.
pub const PREFIX_SCORE: u32 = 2;
/// A search cursor: the rank of the previous page's last result (terms matched, score, memory
/// id), so the next page is what ranks below it, however the matches were found and whatever
/// was written or deleted between the pages.
pub const SEARCH_CURSOR_PATTERN: &str =
    "^[0-9]{1,2}\\.[0-9]{1,3}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// What the query asks for, term by term.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Term {
    /// A tag, lowercased: matches the keyword `#<tag>` that a tag gives its memory.
    Tag(String),
    /// A normalized word: matches keywords equal to it or, when long enough, starting with it.
    Word(String),
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    /// The terms searched, as matched against keywords (`#tag` for tags).
    pub terms: Vec<String>,
    /// How many memories matched in all when `totalExact`; otherwise at least this many. A
    /// broad query (a term with hundreds of matches) stops reading once its page is proven, so
    /// it knows a lower bound only.
    pub total: usize,
    /// Whether `total` is exact rather than a lower bound.
    pub total_exact: bool,
    pub results: Vec<SearchHit>,
    /// Present when more results follow: pass it as `cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(regex(pattern = SEARCH_CURSOR_PATTERN)))]
    pub next_cursor: Option<String>,
}

/// A memory that matched, with what it matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub node: NodeView,
    pub score: u32,
    /// The memory's keywords that matched a term (`#tag` for tags), sorted.
    pub matched: Vec<String>,
}

/// Where a page of results starts: below this rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SearchCursor {
    pub terms: usize,
    pub score: u32,
    pub node: NodeId,
}

impl SearchCursor {
    /// `None` unless it is what [`SEARCH_CURSOR_PATTERN`] allows.
    pub fn parse(cursor: &str) -> Option<SearchCursor> {
        let mut parts = cursor.splitn(3, '.');
        let (terms, score, node) = (parts.next()?, parts.next()?, parts.next()?);
        let digits =
            |text: &str, most: usize| (1..=most).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
        let hyphenated = node.len() == 36 && node.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'));
        if !(digits(terms, 2) && digits(score, 3) && hyphenated) {
            return None;
        }
        Some(SearchCursor { terms: terms.parse().ok()?, score: score.parse().ok()?, node: NodeId(node.parse().ok()?) })
    }
}

impl std::fmt::Display for SearchCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.terms, self.score, self.node)
    }
}

/// The keyword a tag gives its memory: `#` and the tag, trimmed and lowercased. Tags link
/// memories as keywords do because they are keywords of this form (`brain2-shared`'s keywords).
pub fn tag_keyword(tag: &str) -> String {
    let mut keyword = String::from("#");
    keyword.extend(tag.trim().chars().flat_map(char::to_lowercase));
    keyword
}

impl Term {
    /// The keyword (or keyword prefix) it is matched against.
    pub fn keyword(&self) -> String {
        match self {
            Term::Tag(tag) => tag_keyword(tag),
            Term::Word(word) => word.clone(),
        }
    }

    /// Whether a keyword that only starts with the term matches it.
    pub fn matches_prefixes(&self) -> bool {
        match self {
            Term::Tag(_) => false,
            Term::Word(word) => word.chars().count() >= MIN_PREFIX_CHARS,
        }
    }

    /// The score a memory gets for `keyword`, if the term matches it.
    pub fn score(&self, keyword: &str) -> Option<u32> {
        let wanted = self.keyword();
        if keyword == wanted {
            Some(EXACT_SCORE)
        } else if self.matches_prefixes() && keyword.starts_with(&wanted) {
            Some(PREFIX_SCORE)
        } else {
            None
        }
    }
}

/// Splits a query into tag tokens and the text between them: `tag:x` and `#x` are tags; the rest
/// is searched as words (the caller normalizes them as keywords).
pub fn split_query(query: &str) -> (Vec<String>, String) {
    let mut tags = Vec::new();
    let mut text = String::new();
    for token in query.split_whitespace() {
        let tag = token.strip_prefix("tag:").or_else(|| token.strip_prefix('#')).filter(|t| !t.is_empty());
        match tag {
            Some(tag) => {
                let tag: String = tag.chars().flat_map(char::to_lowercase).collect();
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            None => {
                text.push_str(token);
                text.push(' ');
            }
        }
    }
    (tags, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_told_from_words() {
        let (tags, text) = split_query("tag:Rust  graph #Work lambdas tag: #");
        assert_eq!(tags, ["rust", "work"]);
        assert_eq!(text, "graph lambdas tag: # ");
    }

    #[test]
    fn terms_score_exact_above_prefix() {
        let word = Term::Word("gra".into());
        assert_eq!(word.score("gra"), Some(EXACT_SCORE));
        assert_eq!(word.score("graph"), Some(PREFIX_SCORE));
        assert_eq!(word.score("agra"), None);
        assert_eq!(Term::Word("g".into()).score("graph"), None, "one letter is no prefix");
        let tag = Term::Tag("work".into());
        assert_eq!(tag.score("#work"), Some(EXACT_SCORE));
        assert_eq!(tag.score("#workshop"), None, "tags match whole");
        assert_eq!(tag_keyword("  Deep Work "), "#deep work");
    }

    #[test]
    fn cursors_are_ranks() {
        let node = NodeId("0190c3a2-7b1e-7c3d-8e4f-a1b2c3d4e5f6".parse().unwrap());
        let cursor = SearchCursor { terms: 2, score: 6, node };
        assert_eq!(cursor.to_string(), "2.6.0190c3a2-7b1e-7c3d-8e4f-a1b2c3d4e5f6");
        assert_eq!(SearchCursor::parse(&cursor.to_string()), Some(cursor));
        let pattern = regex_lite::Regex::new(SEARCH_CURSOR_PATTERN).unwrap();
        assert!(pattern.is_match(&cursor.to_string()));
        for bad in [
            "",
            "20",
            "2.6",
            "2.6.x",
            "123.6.0190c3a2-7b1e-7c3d-8e4f-a1b2c3d4e5f6",
            "2.6.0190C3A2-7B1E-7C3D-8E4F-A1B2C3D4E5F6",
        ] {
            assert_eq!(SearchCursor::parse(bad), None, "{bad:?}");
            assert!(!pattern.is_match(bad), "{bad:?}");
        }
    }
}
