//! `GET /api/search` from the table: every memory of the user whose keywords match the query
//! (`brain2_api::search` has the rules), ranked, a page at a time.
//!
//! Postings carry `keyword = <userId>#<keyword>` and live in the user's partition (`id`), so
//! [`SEARCH_INDEX`] (partition key `id`, sort key `keyword`, keys only) holds each user's
//! keywords in order: a word and every keyword it starts is one range Query
//! (`begins_with(keyword, "<userId>#gra")`), a tag one exact Query. Nothing scans, and no other
//! user's partition is reachable: every key starts from the caller's id.
//!
//! Each term's postings are read up to [`SearchLimits::broad_term_postings`]. When every term
//! has fewer, the postings rank every match (the "narrow" path). A broad term matches too many
//! memories to read them all within the budget, so the page is *proven* instead, best first:
//! - a memory seen in some term's postings is known for those terms, and at most
//!   [`EXACT_SCORE`] or [`PREFIX_SCORE`] for each broad term it was not seen in (a term's exact
//!   keyword sorts before the longer ones, so a read that reached a longer keyword holds every
//!   exact match); the best of these are read and matched from their keywords;
//! - a memory seen in no postings can match only the broad terms, and is older than every memory
//!   read so far newest first (`GET /api/nodes`'s Query, keywords only), so reading memories
//!   newest first lowers that bound: ties rank newest first, so the newest matches are wanted;
//! - when that finds matches slowly (a term of a few hundred memories), reading on the broad
//!   terms' postings is cheaper: the proof does, and starts again from what it has read.
//!
//! Memories are read for their keywords only (BatchGetItem or that Query, projected), and the
//! page's memories whole with one BatchGetItem. Only what ranks below the cursor (the previous
//! page's last result) counts.
//!
//! It stops when one more result than the page's end is proven above every bound (so it knows
//! whether a next page exists). `total` then counts the memories known to match and
//! `totalExact` is false. A proof that would read more than [`SearchLimits::proof_budget`]
//! memories (broad terms that rarely occur together, a broad query's last pages) reads every
//! posting instead.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use brain2_api::search::{EXACT_SCORE, PREFIX_SCORE, SEARCH_PAGE_SIZE, SearchCursor, SearchPage, Term};

use crate::domain::{self, Node, NodeId, UserId};
use crate::dynamo::StoreError;
use crate::keys;
use crate::memory::{MemoryStore, s};

/// The index search reads: the user's postings in keyword order.
pub const SEARCH_INDEX: &str = "UserKeywordIndex";
/// When search proves a page instead of ranking every match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchLimits {
    /// A term with more postings than this is broad: its page is proven rather than every
    /// match ranked.
    pub broad_term_postings: usize,
    /// Memories a proof may read before search reads every posting instead.
    pub proof_budget: usize,
    /// A proof reads on the broad terms' postings when reading memories newest first would take
    /// more than this many memories more, at the rate it has found matches so far (a posting
    /// costs about a sixth of a memory read newest first)...
    pub read_on_after: usize,
    /// ... by this many postings a time...
    pub read_on_chunk: usize,
    /// ... up to this many postings a term.
    pub read_on_limit: usize,
}

impl Default for SearchLimits {
    /// Measured at 10,000 memories (BENCHMARKS.md, "Search at 10,000 memories").
    fn default() -> Self {
        SearchLimits {
            broad_term_postings: 250,
            proof_budget: 2_000,
            read_on_after: 200,
            read_on_chunk: 750,
            read_on_limit: 2_000,
        }
    }
}
/// Every posting of a term is read up to this many (a prefix of two letters in a very large
/// graph would otherwise read most of it); the ranking then considers the memories among them.
pub const MAX_POSTINGS_PER_TERM: usize = 20_000;
/// Memories read newest first per Query while a proof lowers the bound of the unread ones.
const NEWEST_FIRST_BATCH: usize = 100;
/// Seen memories whose keywords are read at a time (one BatchGetItem) to learn how they match
/// the broad terms.
const CHECK_BATCH: usize = 50;
const _: () = assert!(CHECK_BATCH <= crate::memory::MAX_BATCH_GET && SEARCH_PAGE_SIZE <= crate::memory::MAX_BATCH_GET);

/// How a memory ranks: terms matched, then score, then newer (ids are UUIDv7, so a larger id
/// is a later memory). Larger is better.
type RankKey = (usize, u32, NodeId);

/// A ranked match before its memory is read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    node: NodeId,
    /// How many of the query's terms it matched.
    terms: usize,
    score: u32,
    matched: BTreeSet<String>,
}

impl Candidate {
    fn key(&self) -> RankKey {
        (self.terms, self.score, self.node)
    }

    fn cursor(&self) -> SearchCursor {
        SearchCursor { terms: self.terms, score: self.score, node: self.node }
    }
}

fn key_of(cursor: SearchCursor) -> RankKey {
    (cursor.terms, cursor.score, cursor.node)
}

/// One term's postings as read so far: (node, keyword), in index order.
struct TermPostings {
    term: Term,
    postings: Vec<(NodeId, String)>,
    /// Where the index Query stopped, to read on from; `None` before the first read and once
    /// `complete`.
    resume: Option<crate::dynamo::Item>,
    /// Every posting of the term was read.
    complete: bool,
    /// Every posting of the term's exact keyword was read.
    exact_complete: bool,
}

impl TermPostings {
    fn new(term: Term) -> Self {
        TermPostings { term, postings: Vec::new(), resume: None, complete: false, exact_complete: false }
    }

    /// The most an unread posting of this term can add to a memory's score.
    fn unread_bound(&self) -> Option<u32> {
        match (self.complete, self.exact_complete) {
            (true, _) => None,
            (false, true) => Some(PREFIX_SCORE),
            (false, false) => Some(EXACT_SCORE),
        }
    }
}

/// The matches below the cursor in rank order, at least to one past the page asked for.
struct Ranking {
    ranked: Vec<Candidate>,
    total: usize,
    total_exact: bool,
}

impl MemoryStore {
    /// The page of results for `query` that rank below `after` (from the top without it).
    pub async fn search(
        &self,
        user: UserId,
        query: &str,
        after: Option<SearchCursor>,
    ) -> Result<SearchPage, StoreError> {
        let terms = crate::keywords::query_terms(query);
        let below = after.map(key_of);
        let limits = self.search_limits();
        let mut read: Vec<TermPostings> = terms.iter().cloned().map(TermPostings::new).collect();
        self.read_on(user, &mut read, limits.broad_term_postings).await?;
        let ranking = match self.prove(user, &terms, &mut read, below, limits).await? {
            Proved::Ranking(ranking) => ranking,
            Proved::EveryPostingRead => exhaustive(&terms, &read, below),
            Proved::OverBudget => {
                self.read_on(user, &mut read, MAX_POSTINGS_PER_TERM).await?;
                exhaustive(&terms, &read, below)
            }
        };
        let Ranking { ranked, total, total_exact } = ranking;
        let page: Vec<&Candidate> = ranked.iter().take(SEARCH_PAGE_SIZE).collect();
        let ids: Vec<NodeId> = page.iter().map(|c| c.node).collect();
        let nodes: HashMap<NodeId, Node> =
            self.get_many(user, &ids).await?.into_iter().filter_map(|(id, node)| Some((id, node?))).collect();
        let results = page
            .iter()
            // A memory deleted since its postings were read (or being deleted) is left out.
            .filter_map(|candidate| {
                let node = nodes.get(&candidate.node)?;
                // A broad term's postings were read only in part, so what matched is taken from
                // the memory itself when it was read.
                let matched =
                    evaluate(&terms, node.id, &node.keywords).map_or_else(|| candidate.matched.clone(), |c| c.matched);
                Some(brain2_api::SearchHit {
                    node: domain::view(node, None),
                    score: candidate.score,
                    matched: matched.into_iter().collect(),
                })
            })
            .collect();
        Ok(SearchPage {
            terms: terms.iter().map(Term::keyword).collect(),
            total: total.max(ranked.len()),
            total_exact,
            results,
            // The last result of the page, shown or not (a memory deleted since its postings were
            // read keeps its rank), so the next page starts right below it.
            next_cursor: (ranked.len() > page.len()).then(|| page[page.len() - 1].cursor().to_string()),
        })
    }

    /// Reads on every term that is not complete, each to `up_to` postings, at once.
    async fn read_on(&self, user: UserId, read: &mut [TermPostings], up_to: usize) -> Result<(), StoreError> {
        // Futures made in a loop, not a stream's closure: a closure over `&mut` items is not
        // `Send` for every lifetime axum asks.
        let mut reads = Vec::new();
        for term in read.iter_mut().filter(|t| !t.complete && t.postings.len() < up_to) {
            reads.push(self.read_postings(user, term, up_to));
        }
        futures::future::try_join_all(reads).await?;
        Ok(())
    }

    /// Reads on the postings of the user's keywords that the term matches, in index order (the
    /// exact keyword first), until it holds more than `up_to` or all of them.
    async fn read_postings(&self, user: UserId, read: &mut TermPostings, up_to: usize) -> Result<(), StoreError> {
        let exact = read.term.keyword();
        let condition = if read.term.matches_prefixes() {
            "#pk = :pk AND begins_with(#kw, :kw)"
        } else {
            "#pk = :pk AND #kw = :kw"
        };
        while !read.complete && read.postings.len() <= up_to {
            // One more than the limit tells a term that has exactly `up_to` from a broader one.
            let limit = up_to + 1 - read.postings.len();
            let output = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(self.search_index())
                .key_condition_expression(condition)
                .expression_attribute_names("#pk", keys::PARTITION_KEY)
                .expression_attribute_names("#kw", keys::KEYWORD_KEY)
                .expression_attribute_values(":pk", s(keys::partition(user)))
                .expression_attribute_values(":kw", s(keys::keyword(user, &exact)))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(read.resume.take())
                .send()
                .await
                .map_err(|e| StoreError::call("Query", e))?;
            for item in output.items() {
                let posting = item
                    .get(keys::SORT_KEY)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| Some((keys::node_in(sk)?, keys::posting_keyword(sk)?.to_owned())));
                if let Some(posting) = posting {
                    read.exact_complete |= posting.1 != exact;
                    read.postings.push(posting);
                }
            }
            read.resume = output.last_evaluated_key().cloned();
            if read.resume.is_none() {
                read.complete = true;
                read.exact_complete = true;
            }
        }
        Ok(())
    }

    /// The best matches below `below`, to one past a page, proven from partly read postings
    /// (see the module's comment). Reads on a broad term's postings when reading memories newest
    /// first finds too few of its matches.
    async fn prove(
        &self,
        user: UserId,
        terms: &[Term],
        read: &mut [TermPostings],
        below: Option<RankKey>,
        limits: SearchLimits,
    ) -> Result<Proved, StoreError> {
        // Keywords read so far, kept when the postings read on; `None`: missing or being deleted.
        let mut keywords: HashMap<NodeId, Option<Vec<String>>> = HashMap::new();
        let mut newest =
            NewestFirst { after: None, frontier: NodeId(uuid::Uuid::max()), done: false, read: 0, hits: 0 };
        let mut read_count = 0;
        loop {
            if read.iter().all(|t| t.complete) {
                return Ok(Proved::EveryPostingRead);
            }
            let bounds: Vec<Option<u32>> = read.iter().map(TermPostings::unread_bound).collect();
            let unseen_level = (bounds.iter().flatten().count(), bounds.iter().flatten().sum::<u32>());
            // One past the page: whether it exists says whether a next page does.
            let mut proof = Proof::new(SEARCH_PAGE_SIZE + 1, below);
            let mut to_check = candidates(terms, read, &bounds, &mut proof);
            for (id, words) in &keywords {
                proof.read_node(terms, *id, words.as_deref());
            }
            to_check.retain(|(_, node)| !keywords.contains_key(node));
            let mut to_check = to_check.into_iter().peekable();
            loop {
                // Skip those read newest first meanwhile.
                while to_check.next_if(|(_, node)| keywords.contains_key(node)).is_some() {}
                let next_to_check = to_check.peek().map(|(bound, _)| *bound);
                let unseen = (!newest.done).then(|| {
                    let bound = (unseen_level.0, unseen_level.1, newest.frontier);
                    // Only what ranks below the cursor counts: at the cursor's level, an older
                    // memory than the cursor's.
                    match below {
                        Some((terms, score, node)) => bound.min((terms, score, node.min(newest.frontier))),
                        None => bound,
                    }
                });
                let Some(pending) = next_to_check.max(unseen) else {
                    // Every memory was read newest first: the matches are all known, and a
                    // memory known only from its postings was deleted since.
                    proof.ranked.retain(|_, c| keywords.get(&c.node).is_some_and(Option::is_some));
                    let total = proof.matching.len();
                    return Ok(Proved::Ranking(proof.into_ranking(total, true)));
                };
                if proof.last_wanted().is_some_and(|last| pending <= last) {
                    // Matches known: those whose keywords were read and match, and those seen in
                    // the postings and not read.
                    let mut known: HashSet<NodeId> = read
                        .iter()
                        .flat_map(|t| t.postings.iter().map(|(id, _)| *id))
                        .filter(|id| !keywords.contains_key(id))
                        .collect();
                    known.extend(proof.matching.iter().copied());
                    return Ok(Proved::Ranking(proof.into_ranking(known.len(), false)));
                }
                if read_count >= limits.proof_budget {
                    return Ok(Proved::OverBudget);
                }
                if next_to_check >= unseen {
                    // The best unchecked first, as long as they could still reach the page.
                    let last = proof.last_wanted();
                    let mut batch = Vec::new();
                    while batch.len() < CHECK_BATCH {
                        let worth = |(bound, _): &(RankKey, NodeId)| Some(*bound) >= unseen && Some(*bound) > last;
                        match to_check.next_if(worth) {
                            Some((_, node)) if !keywords.contains_key(&node) => batch.push(node),
                            Some(_) => {}
                            None => break,
                        }
                    }
                    let read_now = self.keywords_of(user, &batch).await?;
                    read_count += read_now.len();
                    for (id, words) in read_now {
                        proof.read_node(terms, id, words.as_deref());
                        keywords.insert(id, words);
                    }
                    continue;
                }
                // Reading newest first finds the broad terms' matches at the rate seen so far;
                // when finding the page's missing ones (those not yet above every unseen memory)
                // would take long, reading on their postings is cheaper.
                let above = proof.ranked.range((unseen_level.0, unseen_level.1, newest.frontier)..).count();
                let missing = (SEARCH_PAGE_SIZE + 1).saturating_sub(above);
                let slow = newest.read >= NEWEST_FIRST_BATCH
                    && missing * newest.read > limits.read_on_after.saturating_mul(newest.hits.max(1));
                let can_read_on = read.iter().any(|t| !t.complete && t.postings.len() < limits.read_on_limit);
                if slow && can_read_on {
                    let up_to = read
                        .iter()
                        .filter(|t| !t.complete)
                        .map(|t| t.postings.len() + limits.read_on_chunk)
                        .min()
                        .unwrap_or(limits.read_on_limit)
                        .min(limits.read_on_limit);
                    self.read_on(user, read, up_to).await?;
                    // Reading newest first again counts its rate from here.
                    (newest.read, newest.hits) = (0, 0);
                    break;
                }
                let (nodes, last) = self.newest_keywords(user, NEWEST_FIRST_BATCH, newest.after).await?;
                read_count += nodes.len();
                newest.read += nodes.len();
                for (id, words) in nodes {
                    newest.frontier = newest.frontier.min(id);
                    if proof.read_node(terms, id, words.as_deref()).is_some_and(|level| level >= unseen_level) {
                        newest.hits += 1;
                    }
                    keywords.insert(id, words);
                }
                // Every memory not yet read is older than the last one the Query looked at.
                if let Some(last) = last {
                    newest.frontier = newest.frontier.min(last);
                }
                newest.done = last.is_none();
                newest.after = last;
            }
        }
    }
}

/// How far reading the user's memories newest first has got.
struct NewestFirst {
    /// The last memory the Query looked at.
    after: Option<NodeId>,
    /// Every memory not yet read is older than this.
    frontier: NodeId,
    /// Every memory was read.
    done: bool,
    /// Memories read since the postings were last read on, and how many of them matched at the
    /// level of an unseen memory's best.
    read: usize,
    hits: usize,
}

/// What a proof came to.
enum Proved {
    Ranking(Ranking),
    /// Every term's postings were read whole (reading on completed them): rank them all.
    EveryPostingRead,
    /// The proof would read more than its budget of memories.
    OverBudget,
}

/// What the postings say of each memory seen in them: those whose every broad term was seen
/// are proven; the rest come back with the best they could rank, best first, to be checked.
fn candidates(
    terms: &[Term],
    read: &[TermPostings],
    bounds: &[Option<u32>],
    proof: &mut Proof,
) -> Vec<(RankKey, NodeId)> {
    let below = proof.below;
    let mut seen: BTreeMap<NodeId, (Vec<Option<u32>>, BTreeSet<String>)> = BTreeMap::new();
    for (index, (term, term_read)) in terms.iter().zip(read).enumerate() {
        for (node, keyword) in &term_read.postings {
            if let Some(score) = term.score(keyword) {
                let (scores, matched) = seen.entry(*node).or_insert_with(|| (vec![None; terms.len()], BTreeSet::new()));
                scores[index] = scores[index].max(Some(score));
                matched.insert(keyword.clone());
            }
        }
    }
    let mut to_check = Vec::new();
    for (node, (scores, matched)) in seen {
        let (mut least, mut best) = ((0, 0), (0, 0));
        let mut unknown = false;
        for (score, bound) in scores.iter().zip(bounds) {
            match (score, bound) {
                (Some(score), _) => {
                    least = (least.0 + 1, least.1 + score);
                    best = (best.0 + 1, best.1 + score);
                }
                (None, Some(bound)) => {
                    unknown = true;
                    best = (best.0 + 1, best.1 + bound);
                }
                (None, None) => {}
            }
        }
        if unknown {
            // At least what its postings say: on an earlier page when that is above the cursor.
            if below.is_some_and(|below| (least.0, least.1, node) >= below) {
                continue;
            }
            // At most its best; only what ranks below the cursor counts.
            let bound = match below {
                Some((terms, score, _)) => (best.0, best.1, node).min((terms, score, node)),
                None => (best.0, best.1, node),
            };
            to_check.push((bound, node));
        } else {
            proof.prove(Candidate { node, terms: best.0, score: best.1, matched });
        }
    }
    to_check.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
    to_check
}

/// The matches proven so far, best first, and the memories read for them.
struct Proof {
    wanted: usize,
    /// Only matches ranking below this count (the previous page's last result).
    below: Option<RankKey>,
    ranked: BTreeMap<RankKey, Candidate>,
    /// Memories read that match, wherever they rank.
    matching: HashSet<NodeId>,
    key_of: HashMap<NodeId, RankKey>,
}

impl Proof {
    fn new(wanted: usize, below: Option<RankKey>) -> Self {
        Proof { wanted, below, ranked: BTreeMap::new(), matching: HashSet::new(), key_of: HashMap::new() }
    }

    fn prove(&mut self, candidate: Candidate) {
        self.unprove(candidate.node);
        if self.below.is_some_and(|below| candidate.key() >= below) {
            return;
        }
        self.key_of.insert(candidate.node, candidate.key());
        self.ranked.insert(candidate.key(), candidate);
    }

    /// Drops what was proven of `node`: it was read since, or is missing or being deleted.
    fn unprove(&mut self, node: NodeId) {
        if let Some(key) = self.key_of.remove(&node) {
            self.ranked.remove(&key);
        }
    }

    /// The memory as read decides how it ranks; `None` (missing or being deleted) makes it no
    /// match, whatever its postings said. Returns its level (terms, score) when it matches.
    fn read_node(&mut self, terms: &[Term], node: NodeId, keywords: Option<&[String]>) -> Option<(usize, u32)> {
        self.unprove(node);
        let candidate = evaluate(terms, node, keywords?)?;
        let level = (candidate.terms, candidate.score);
        self.matching.insert(node);
        self.prove(candidate);
        Some(level)
    }

    /// The key of the `wanted`-th best match, once that many are proven.
    fn last_wanted(&self) -> Option<RankKey> {
        self.ranked.keys().rev().nth(self.wanted - 1).copied()
    }

    fn into_ranking(self, total: usize, total_exact: bool) -> Ranking {
        let ranked = self.ranked.into_values().rev().take(self.wanted).collect();
        Ranking { ranked, total, total_exact }
    }
}

/// How `node` matches the query, from its own keywords; `None` when it does not.
fn evaluate(terms: &[Term], node: NodeId, keywords: &[String]) -> Option<Candidate> {
    let mut candidate = Candidate { node, terms: 0, score: 0, matched: BTreeSet::new() };
    for term in terms {
        let mut best = None;
        for keyword in keywords {
            if let Some(score) = term.score(keyword) {
                best = best.max(Some(score));
                candidate.matched.insert(keyword.clone());
            }
        }
        if let Some(best) = best {
            candidate.terms += 1;
            candidate.score += best;
        }
    }
    (candidate.terms > 0).then_some(candidate)
}

/// Every match ranked from the postings, to one past the page below `below`; the total is
/// exact when every term was read whole (past [`MAX_POSTINGS_PER_TERM`], the matches among the
/// postings read).
fn exhaustive(terms: &[Term], read: &[TermPostings], below: Option<RankKey>) -> Ranking {
    let mut proof = Proof::new(SEARCH_PAGE_SIZE + 1, below);
    let unknown = candidates(terms, read, &vec![None; read.len()], &mut proof);
    debug_assert!(unknown.is_empty(), "every term is known once its postings count as read");
    let total: HashSet<NodeId> = read.iter().flat_map(|t| t.postings.iter().map(|(id, _)| *id)).collect();
    proof.into_ranking(total.len(), read.iter().all(|t| t.complete))
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
        let read: Vec<TermPostings> = terms
            .iter()
            .zip(postings)
            .map(|(term, postings)| TermPostings { postings, complete: true, ..TermPostings::new(term.clone()) })
            .collect();
        let ranked = exhaustive(&terms, &read, None).ranked;
        let order: Vec<(u128, usize, u32)> = ranked.iter().map(|c| (c.node.0.as_u128(), c.terms, c.score)).collect();
        // 2: "gra" exactly (4) + rust (4); 1: #work (4) + graph as a prefix (2); then the
        // single-term matches, exact before prefix, newer first.
        assert_eq!(order, [(2, 2, 8), (1, 2, 6), (5, 1, 4), (3, 1, 4), (4, 1, 2)]);
        assert_eq!(ranked[0].matched.iter().collect::<Vec<_>>(), ["gra", "graphs", "rust"]);
        // Below a cursor: what ranks under the second.
        let below = exhaustive(&terms, &read, Some(ranked[1].key())).ranked;
        assert_eq!(below.iter().map(|c| c.node.0.as_u128()).collect::<Vec<_>>(), [5, 3, 4]);
    }

    #[test]
    fn a_term_read_in_part_bounds_what_it_did_not_read() {
        let mut read = TermPostings::new(Term::Word("gra".into()));
        assert_eq!(read.unread_bound(), Some(EXACT_SCORE), "its exact keyword may lie ahead");
        read.exact_complete = true;
        assert_eq!(read.unread_bound(), Some(PREFIX_SCORE), "only longer keywords lie ahead");
        read.complete = true;
        assert_eq!(read.unread_bound(), None);
    }
}
