//! Deterministic keyword extraction from a memory's text.
//!
//! Rules:
//! - Words are found with Unicode word boundaries (UAX #29), so punctuation, emoji and spacing of
//!   every script separate words, and "don't" or "3.14" stay one word.
//! - A word is lowercased; apostrophes inside it are dropped ("don't" → "dont").
//! - Scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar, Tibetan)
//!   have no word boundaries UAX #29 can find without a dictionary. A run of them yields its
//!   overlapping character bigrams ("知識グラフ" → "知識", "識グ", "グラ", "ラフ"), the usual
//!   dictionary-free approach of search engines; a run of one character is that character.
//! - Other words shorter than [`MIN_KEYWORD_CHARS`] characters, and English stop words, are dropped.
//! - A keyword longer than [`MAX_KEYWORD_BYTES`] bytes is cut at the last character boundary
//!   within it, so a pasted hash or a 5,000-character word still saves (see the bound's note).
//! - The result is deduplicated, capped at [`MAX_KEYWORDS`] (the first ones in the text win), and
//!   sorted.

use std::collections::BTreeSet;

use unicode_segmentation::UnicodeSegmentation;

/// At most this many keywords per memory. An update writes the node and, at worst, a posting
/// for each new keyword and a delete for each old one: 1 + 2 × 49 = 99 actions, inside
/// DynamoDB's 100 per transaction, so an update is one transaction.
pub const MAX_KEYWORDS: usize = 49;

/// Words shorter than this many characters (not bytes) are not keywords.
pub const MIN_KEYWORD_CHARS: usize = 3;

/// The longest keyword, in UTF-8 bytes. A posting's sort key is `K#<36-byte node id>#<keyword>`
/// (at most 139 bytes here, limit 1,024), KeywordIndex's key `<36-byte user id>#<keyword>` (limit
/// 2,048), and a node holds at most 49 keywords and an edge 49 shared ones (under 5 KB each, of
/// the 400 KB an item may hold).
pub const MAX_KEYWORD_BYTES: usize = 100;

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

/// Whether `c` belongs to a script written without spaces between words.
fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF // Thai, Lao
        | 0x0F00..=0x0FFF // Tibetan
        | 0x1000..=0x109F // Myanmar
        | 0x1780..=0x17FF // Khmer
        | 0x19E0..=0x19FF // Khmer symbols
        | 0x2E80..=0x2FDF // CJK radicals
        | 0x3005..=0x3007 // ideographic iteration and number marks
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x31F0..=0x31FF // Katakana extensions
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xA9E0..=0xA9FF // Myanmar extended-B
        | 0xAA60..=0xAA7F // Myanmar extended-A
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0xFF66..=0xFF9F // halfwidth Katakana
        | 0x20000..=0x3134F // CJK extensions B to G
    )
}

/// `word` cut to at most [`MAX_KEYWORD_BYTES`] bytes, at a character boundary.
fn bounded(mut word: String) -> String {
    if word.len() > MAX_KEYWORD_BYTES {
        let cut = (0..=MAX_KEYWORD_BYTES).rev().find(|i| word.is_char_boundary(*i)).unwrap_or(0);
        word.truncate(cut);
    }
    word
}

/// Collects keywords in text order, each once, up to the cap.
struct Keywords {
    seen: BTreeSet<String>,
    kept: Vec<String>,
}

impl Keywords {
    fn push(&mut self, keyword: String) {
        let keyword = bounded(keyword);
        if self.kept.len() < MAX_KEYWORDS && !keyword.is_empty() && self.seen.insert(keyword.clone()) {
            self.kept.push(keyword);
        }
    }

    fn full(&self) -> bool {
        self.kept.len() >= MAX_KEYWORDS
    }

    /// A run of characters of unspaced scripts: its bigrams, or the one character.
    fn push_run(&mut self, run: &[char]) {
        match run {
            [] => {}
            [single] => self.push(single.to_string()),
            _ => {
                for pair in run.windows(2) {
                    if self.full() {
                        break;
                    }
                    self.push(pair.iter().collect());
                }
            }
        }
    }
}

/// The keywords of `text`, sorted and deduplicated, at most [`MAX_KEYWORDS`].
///
/// When there are more candidates than the cap, the first ones in the text win, so a long memory
/// keeps the words it opens with; the survivors are then sorted.
pub fn extract(text: &str) -> Vec<String> {
    let mut keywords = Keywords { seen: BTreeSet::new(), kept: Vec::new() };
    // The current run of unspaced-script characters, and where in `text` it ends.
    let mut run: Vec<char> = Vec::new();
    let mut run_end = 0;
    for (start, segment) in text.unicode_word_indices() {
        if keywords.full() {
            break;
        }
        let word: String = segment.chars().filter(|c| !is_apostrophe(*c)).flat_map(char::to_lowercase).collect();
        if !word.is_empty() && word.chars().all(is_unspaced) {
            if start != run_end {
                keywords.push_run(&run);
                run.clear();
            }
            run.extend(word.chars());
            run_end = start + segment.len();
            continue;
        }
        keywords.push_run(&run);
        run.clear();
        if word.chars().count() >= MIN_KEYWORD_CHARS && !is_stop_word(&word) {
            keywords.push(word);
        }
    }
    keywords.push_run(&run);
    let mut kept = keywords.kept;
    kept.sort();
    kept
}

/// A memory's keywords: one per tag, `#` and the tag lowercased (`brain2_api::search::tag_keyword`),
/// then those of its content ([`extract`]), at most [`MAX_KEYWORDS`] in all, sorted. Tags are
/// keywords of their own form, so they link memories as words do (a shared tag counts as a shared
/// keyword), and search finds them through the same index; no word of content can be one, since
/// `#` always ends a word. At most 20 tags leave room for 29 words.
pub fn of_memory(content: &str, tags: &[String]) -> Vec<String> {
    let mut keywords = Keywords { seen: BTreeSet::new(), kept: Vec::new() };
    for tag in tags {
        keywords.push(brain2_api::search::tag_keyword(tag));
    }
    for word in extract(content) {
        if keywords.full() {
            break;
        }
        keywords.push(word);
    }
    let mut kept = keywords.kept;
    kept.sort();
    kept
}

/// The terms of a search query: its tags (`tag:x`, `#x`), then its words normalized as
/// [`extract`] normalizes content (stop words kept: as prefixes they still find words), each once,
/// at most `brain2_api::search::MAX_QUERY_TERMS`.
pub fn query_terms(query: &str) -> Vec<brain2_api::search::Term> {
    use brain2_api::search::{MAX_QUERY_TERMS, Term};
    let (tags, text) = brain2_api::search::split_query(query);
    let mut terms: Vec<Term> = tags.into_iter().map(Term::Tag).collect();
    let mut words = Keywords { seen: BTreeSet::new(), kept: Vec::new() };
    let mut run: Vec<char> = Vec::new();
    let mut run_end = 0;
    for (start, segment) in text.unicode_word_indices() {
        let word: String = segment.chars().filter(|c| !is_apostrophe(*c)).flat_map(char::to_lowercase).collect();
        if !word.is_empty() && word.chars().all(is_unspaced) {
            if start != run_end {
                words.push_run(&run);
                run.clear();
            }
            run.extend(word.chars());
            run_end = start + segment.len();
            continue;
        }
        words.push_run(&run);
        run.clear();
        if !word.is_empty() {
            words.push(word);
        }
    }
    words.push_run(&run);
    terms.extend(words.kept.into_iter().map(Term::Word));
    terms.truncate(MAX_QUERY_TERMS);
    terms
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
        // "éé" is two characters (four bytes): too short. "café" is four characters.
        assert_eq!(extract("éé café ab"), ["café"]);
    }

    #[test]
    fn stop_words_are_dropped() {
        assert_eq!(extract("the and with database"), ["database"]);
    }

    #[test]
    fn caps_at_forty_nine_keeping_the_first_words() {
        let text: Vec<String> = (0..80).map(|i| format!("word{i:03}")).collect();
        let keywords = extract(&text.join(" "));
        assert_eq!(keywords.len(), MAX_KEYWORDS);
        assert_eq!(keywords.first().map(String::as_str), Some("word000"));
        assert_eq!(keywords.last().map(String::as_str), Some("word048"));
    }

    #[test]
    fn unspaced_scripts_give_character_bigrams() {
        assert_eq!(extract("知識グラフ"), ["グラ", "ラフ", "知識", "識グ"]);
        assert_eq!(extract("ภาษาไทย"), ["ทย", "ภา", "ษา", "าษ", "าไ", "ไท"]);
        // A lone character is kept; runs split by spaces or punctuation are separate runs.
        assert_eq!(extract("猫。犬"), ["犬", "猫"]);
        // Mixed with spaced scripts: each side follows its own rule.
        assert_eq!(extract("Rust の型システム"), ["rust", "の型", "シス", "ステ", "テム", "型シ"]);
    }

    #[test]
    fn keywords_are_cut_at_the_byte_bound_on_a_character_boundary() {
        let long_hash = "a1".repeat(600);
        assert_eq!(extract(&long_hash), ["a1".repeat(50)]);
        // Three-byte characters: 33 fit in 100 bytes.
        let accented = "ḁ".repeat(400);
        let kept = extract(&accented);
        assert_eq!(kept[0].len(), 99);
        assert_eq!(kept[0].chars().count(), 33);
        // At the bound exactly: kept whole.
        assert_eq!(extract(&"b".repeat(MAX_KEYWORD_BYTES)), ["b".repeat(MAX_KEYWORD_BYTES)]);
    }

    #[test]
    fn five_thousand_characters_without_spaces_stay_within_every_bound() {
        let samples = [
            "x".repeat(5_000),
            "語".repeat(5_000),
            "กขคงจฉชซ".repeat(625),
            (0..5_000).map(|i| char::from_u32(0x4E00 + i).unwrap()).collect::<String>(),
            "ab1-".repeat(1_250),
        ];
        for text in samples {
            assert_eq!(text.chars().count(), 5_000);
            let keywords = extract(&text);
            assert!(!keywords.is_empty() && keywords.len() <= MAX_KEYWORDS);
            assert!(keywords.iter().all(|k| !k.is_empty() && k.len() <= MAX_KEYWORD_BYTES), "{keywords:?}");
        }
    }

    #[test]
    fn empty_and_symbol_only_text_has_no_keywords() {
        assert!(extract("").is_empty());
        assert!(extract("!!! ... ''' ---").is_empty());
    }

    #[test]
    fn tags_are_keywords_of_their_own_form() {
        let tags = vec!["Work".to_owned(), "deep focus".to_owned(), "work ".to_owned()];
        assert_eq!(of_memory("Rust graphs", &tags), ["#deep focus", "#work", "graphs", "rust"]);
        // Tags come first: a long memory gives up words, never tags.
        let text: Vec<String> = (0..60).map(|i| format!("word{i:02}")).collect();
        let all_tags: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let keywords = of_memory(&text.join(" "), &all_tags);
        assert_eq!(keywords.len(), MAX_KEYWORDS);
        assert_eq!(keywords.iter().filter(|k| k.starts_with('#')).count(), 20);
        assert!(extract("#work tag:work").iter().all(|k| !k.starts_with('#')), "content never makes a tag keyword");
    }

    #[test]
    fn queries_give_tags_then_normalized_words() {
        use brain2_api::search::Term;
        assert_eq!(
            query_terms("tag:Work Don't GRA #x the 知識"),
            [
                Term::Tag("work".into()),
                Term::Tag("x".into()),
                Term::Word("dont".into()),
                Term::Word("gra".into()),
                Term::Word("the".into()),
                Term::Word("知識".into()),
            ]
        );
        assert_eq!(query_terms("a b c d e f g h i j").len(), brain2_api::search::MAX_QUERY_TERMS);
        assert!(query_terms("  ,,, ").is_empty());
    }
}
