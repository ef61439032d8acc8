//! `GET /api/search` from the table: every memory of the user whose keywords match the query
//! (`brain2_api::search` has the rules), ranked, a page at a time.
//!
//! Postings carry `keyword = <userId>#<keyword>` and live in the user's partition (`id`), so
//! [`SEARCH_INDEX`] (partition key `id`, sort key `keyword`, keys only) holds each user's
//! keywords in order: a word and every keyword it starts is one range Query
//! (`begins_with(keyword, "<userId>#gra")`), a tag one exact Query. Each term is one Query, read
//! to at most [`MAX_POSTINGS_PER_TERM`] postings; the page's memories are then read whole
//! (strongly consistent GetItem, a few at once). Nothing scans, and no other user's partition is
//! reachable: every key starts from the caller's id.

use std::collections::{BTreeMap, BTreeSet};

use brain2_api::search::{SEARCH_PAGE_SIZE, SearchPage, Term};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::domain::{self, Node, NodeId, UserId};
use crate::dynamo::StoreError;
use crate::keys;
use crate::memory::{MemoryStore, s};

/// The index search reads: the user's postings in keyword order.
pub const SEARCH_INDEX: &str = "UserKeywordIndex";
/// A term's postings are read up to this many (a prefix of two letters in a very large graph
/// would otherwise read most of it); the ranking then considers the memories among them.
pub const MAX_POSTINGS_PER_TERM: usize = 20_000;
/// Memories of a page read at once.
const READ_PARALLELISM: usize = 10;

/// A ranked match before its memory is read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    node: NodeId,
    /// How many of the query's terms it matched.
    terms: usize,
    score: u32,
    matched: BTreeSet<String>,
}

impl MemoryStore {
    /// The page of results after `offset` for `query`.
    pub async fn search(&self, user: UserId, query: &str, offset: usize) -> Result<SearchPage, StoreError> {
        let terms = crate::keywords::query_terms(query);
        let per_term: Vec<Vec<(NodeId, String)>> = stream::iter(terms.clone())
            .map(|term| async move { self.postings_matching(user, &term).await })
            .buffered(terms.len().max(1))
            .try_collect()
            .await?;
        let ranked = rank(&terms, &per_term);
        let total = ranked.len();
        let page: Vec<&Candidate> = ranked.iter().skip(offset).take(SEARCH_PAGE_SIZE).collect();
        let ids: Vec<NodeId> = page.iter().map(|c| c.node).collect();
        let nodes: Vec<Option<Node>> = stream::iter(ids)
            .map(|id| async move { self.get(user, id).await })
            .buffered(READ_PARALLELISM)
            .try_collect()
            .await?;
        let results = page
            .iter()
            .zip(nodes)
            // A memory deleted since its postings were read (or being deleted) is left out.
            .filter_map(|(candidate, node)| {
                node.map(|node| brain2_api::SearchHit {
                    node: domain::view(&node, None),
                    score: candidate.score,
                    matched: candidate.matched.iter().cloned().collect(),
                })
            })
            .collect();
        Ok(SearchPage {
            terms: terms.iter().map(Term::keyword).collect(),
            total,
            results,
            next_cursor: SearchPage::cursor_after(offset, page.len(), total),
        })
    }

    /// The postings of the user's keywords that `term` matches: (node, keyword).
    async fn postings_matching(&self, user: UserId, term: &Term) -> Result<Vec<(NodeId, String)>, StoreError> {
        let wanted = keys::keyword(user, &term.keyword());
        let condition =
            if term.matches_prefixes() { "#pk = :pk AND begins_with(#kw, :kw)" } else { "#pk = :pk AND #kw = :kw" };
        let mut pages = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(self.search_index())
            .key_condition_expression(condition)
            .expression_attribute_names("#pk", keys::PARTITION_KEY)
            .expression_attribute_names("#kw", keys::KEYWORD_KEY)
            .expression_attribute_values(":pk", s(keys::partition(user)))
            .expression_attribute_values(":kw", s(wanted))
            .into_paginator()
            .items()
            .send();
        let mut found = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::call("Query", e))?;
            let posting = item
                .get(keys::SORT_KEY)
                .and_then(|v| v.as_s().ok())
                .and_then(|sk| Some((keys::node_in(sk)?, keys::posting_keyword(sk)?.to_owned())));
            if let Some(posting) = posting {
                found.push(posting);
            }
            if found.len() >= MAX_POSTINGS_PER_TERM {
                break;
            }
        }
        Ok(found)
    }
}

/// Candidates in rank order: more terms matched, then a higher score, then newer (ids are
/// UUIDv7, so a larger id is a later memory).
fn rank(terms: &[Term], per_term: &[Vec<(NodeId, String)>]) -> Vec<Candidate> {
    let mut by_node: BTreeMap<NodeId, Candidate> = BTreeMap::new();
    for (term, postings) in terms.iter().zip(per_term) {
        // A term counts once per memory, at its best match (a word equal to one keyword and
        // starting another scores as the equal one).
        let mut best: BTreeMap<NodeId, (u32, Vec<&str>)> = BTreeMap::new();
        for (node, keyword) in postings {
            if let Some(score) = term.score(keyword) {
                let entry = best.entry(*node).or_insert((0, Vec::new()));
                entry.0 = entry.0.max(score);
                entry.1.push(keyword);
            }
        }
        for (node, (score, keywords)) in best {
            let candidate =
                by_node.entry(node).or_insert_with(|| Candidate { node, terms: 0, score: 0, matched: BTreeSet::new() });
            candidate.terms += 1;
            candidate.score += score;
            candidate.matched.extend(keywords.into_iter().map(str::to_owned));
        }
    }
    let mut ranked: Vec<Candidate> = by_node.into_values().collect();
    ranked.sort_by(|a, b| b.terms.cmp(&a.terms).then(b.score.cmp(&a.score)).then(b.node.cmp(&a.node)));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> NodeId {
        NodeId(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn more_terms_then_score_then_newest() {
        let terms = vec![Term::Tag("work".into()), Term::Word("gra".into()), Term::Word("rust".into())];
        let postings = vec![
            vec![(id(1), "#work".to_owned()), (id(3), "#work".to_owned())],
            vec![(id(1), "graph".to_owned()), (id(2), "gra".to_owned()), (id(2), "graphs".to_owned())],
            vec![(id(2), "rust".to_owned()), (id(4), "rustacean".to_owned()), (id(5), "rust".to_owned())],
        ];
        let ranked = rank(&terms, &postings);
        let order: Vec<(u128, usize, u32)> = ranked.iter().map(|c| (c.node.0.as_u128(), c.terms, c.score)).collect();
        // 2: "gra" exactly (4) + rust (4); 1: #work (4) + graph as a prefix (2); then the
        // single-term matches, exact before prefix, newer first.
        assert_eq!(order, [(2, 2, 8), (1, 2, 6), (5, 1, 4), (3, 1, 4), (4, 1, 2)]);
        assert_eq!(ranked[0].matched.iter().collect::<Vec<_>>(), ["gra", "graphs", "rust"]);
    }
}
