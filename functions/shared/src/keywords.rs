//! Deterministic keyword extraction from a memory's text.
//!
//! Rules: Unicode lowercase; apostrophes inside a word are dropped ("don't" → "dont"); any other
//! character that is not a letter or digit separates words; English stop words and words shorter
//! than three characters are dropped; the result is deduplicated, capped, and sorted.

use std::collections::BTreeSet;

/// At most this many keywords per memory.
pub const MAX_KEYWORDS: usize = 50;

/// Words shorter than this many characters (not bytes) are not keywords.
pub const MIN_KEYWORD_CHARS: usize = 3;

/// Common English words that carry no topic. Sorted, for binary search.
const STOP_WORDS: &[&str] = &[
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "and",
    "any",
    "are",
    "arent",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "can",
    "cannot",
    "cant",
    "could",
    "couldnt",
    "did",
    "didnt",
    "does",
    "doesnt",
    "doing",
    "dont",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "hadnt",
    "has",
    "hasnt",
    "have",
    "havent",
    "having",
    "hed",
    "hell",
    "her",
    "here",
    "heres",
    "hers",
    "herself",
    "hes",
    "him",
    "himself",
    "his",
    "how",
    "hows",
    "ill",
    "im",
    "into",
    "isnt",
    "its",
    "itself",
    "ive",
    "just",
    "lets",
    "more",
    "most",
    "mustnt",
    "myself",
    "nor",
    "not",
    "now",
    "off",
    "once",
    "only",
    "other",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "shant",
    "she",
    "shed",
    "shell",
    "shes",
    "should",
    "shouldnt",
    "some",
    "such",
    "than",
    "that",
    "thats",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "theres",
    "these",
    "they",
    "theyd",
    "theyll",
    "theyre",
    "theyve",
    "this",
    "those",
    "through",
    "too",
    "under",
    "until",
    "very",
    "was",
    "wasnt",
    "wed",
    "well",
    "were",
    "werent",
    "weve",
    "what",
    "whats",
    "when",
    "whens",
    "where",
    "wheres",
    "which",
    "while",
    "who",
    "whom",
    "whos",
    "why",
    "whys",
    "will",
    "with",
    "wont",
    "would",
    "wouldnt",
    "you",
    "youd",
    "youll",
    "your",
    "youre",
    "yours",
    "yourself",
    "yourselves",
    "youve",
];

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{02BC}')
}

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// The keywords of `text`, sorted and deduplicated, at most [`MAX_KEYWORDS`].
///
/// When there are more candidates than the cap, the first ones in the text win, so a long memory
/// keeps the words it opens with; the survivors are then sorted.
pub fn extract(text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    let mut word = String::new();
    let mut flush = |word: &mut String| {
        if word.chars().count() >= MIN_KEYWORD_CHARS && !is_stop_word(word) && seen.insert(word.clone()) {
            kept.push(std::mem::take(word));
        }
        word.clear();
    };
    let mut chars = text.chars().peekable();
    let mut previous_alnum = false;
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
            previous_alnum = true;
        } else if is_apostrophe(c) && previous_alnum && chars.peek().is_some_and(|n| n.is_alphanumeric()) {
            // Inside a word: dropped, so the two halves stay one word.
        } else {
            flush(&mut word);
            previous_alnum = false;
        }
    }
    flush(&mut word);
    kept.truncate(MAX_KEYWORDS);
    kept.sort();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn lowercases_sorts_and_deduplicates() {
        assert_eq!(extract("Rust rust RUST compiler Borrow"), ["borrow", "compiler", "rust"]);
    }

    #[test]
    fn apostrophes_inside_words_are_dropped() {
        assert_eq!(extract("Don't forget Bob’s ideas"), ["bobs", "forget", "ideas"]);
        // "dont" is itself a stop word once the apostrophe is gone.
        assert!(!extract("don't").contains(&"dont".to_owned()));
    }

    #[test]
    fn newlines_and_punctuation_separate_words() {
        assert_eq!(extract("graph\nnodes,edges;weights"), ["edges", "graph", "nodes", "weights"]);
    }

    #[test]
    fn short_words_count_characters_not_bytes() {
        // "日本" is two characters (six bytes): too short. "café" is four characters.
        assert_eq!(extract("日本 café ab"), ["café"]);
    }

    #[test]
    fn stop_words_are_dropped() {
        assert_eq!(extract("the and with database"), ["database"]);
    }

    #[test]
    fn caps_at_fifty_keeping_the_first_words() {
        let text: Vec<String> = (0..80).map(|i| format!("word{i:03}")).collect();
        let keywords = extract(&text.join(" "));
        assert_eq!(keywords.len(), MAX_KEYWORDS);
        assert_eq!(keywords.first().map(String::as_str), Some("word000"));
        assert_eq!(keywords.last().map(String::as_str), Some("word049"));
    }

    #[test]
    fn empty_and_symbol_only_text_has_no_keywords() {
        assert!(extract("").is_empty());
        assert!(extract("!!! ... ''' ---").is_empty());
    }
}
