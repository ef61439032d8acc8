//! Keyword extraction throughput on a generated corpus of memories. `cargo bench -p brain2-shared`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use brain2_shared::keywords::extract;

const WORDS: &[&str] = &[
    "the",
    "graph",
    "Rust",
    "memory",
    "don't",
    "café",
    "lambda",
    "and",
    "edges",
    "keyword",
    "with",
    "a",
    "DynamoDB",
    "event",
    "naïve",
    "übung",
    "connect",
    "node",
    "users",
    "browser",
    "it's",
    "live",
    "update",
    "socket",
    "über",
    "knowledge",
    "personal",
    "notes",
    "ideas",
    "linked",
    "shared",
    "tags",
    "search",
    "fast",
    "deterministic",
];

/// A deterministic corpus: `count` memories of about `chars` characters each.
fn corpus(count: usize, chars: usize) -> Vec<String> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let mut text = String::new();
            while text.chars().count() < chars {
                text.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
                text.push_str(if next() % 9 == 0 { ".\n" } else { " " });
            }
            text
        })
        .collect()
}

fn main() {
    for (label, count, chars) in
        [("short memories (200 chars)", 5_000, 200), ("long memories (5000 chars)", 500, 5_000)]
    {
        let memories = corpus(count, chars);
        let bytes: usize = memories.iter().map(String::len).sum();
        for text in &memories {
            black_box(extract(text));
        }
        let mut rounds = 0u32;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            for text in &memories {
                black_box(extract(black_box(text)));
            }
            rounds += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        let per_second = f64::from(rounds) * count as f64 / seconds;
        let mib = f64::from(rounds) * bytes as f64 / seconds / (1024.0 * 1024.0);
        println!("{label}: {per_second:>10.0} memories/s, {mib:>6.1} MiB/s");
    }
}
