//! Markdown notes in and out: the export as a zip of one file per memory, and import of such a
//! zip or of an Obsidian vault.
//!
//! A file of the export is front matter (`id`, `created`, `updated`, `version`, `tags`,
//! `keywords`), the memory's content as it is, and, when the memory has links, a last paragraph of
//! `[[wikilinks]]` to the files of the memories it is linked to, after the marker
//! [`LINKS_MARKER`] (an HTML comment: Obsidian shows the links and hides the marker). Files are
//! named from the content's first words and the end of the id, in one folder; the zip is
//! deterministic (entries oldest first, fixed times).
//!
//! Import reads every `.md` file (not those under a folder starting with `.`, such as
//! `.obsidian/` and `.trash/`, nor `__MACOSX/`): tags from the front matter (`tags`, or `tag`:
//! a list, or one value with commas), one more tag per folder the note is in (the vault's own
//! top folder, shared by every note, is not one), the time from `created` (else the file's time
//! in the zip), and the id from `id` when it is one (the Markdown export's); a note without one
//! gets an id from its path and content (`transfer::derived_id`). A note of the export keeps
//! its content exactly (the links paragraph is dropped: connect-node links again); another note
//! starts with its title as a heading, so that a `[[Title]]` elsewhere shares the title's words
//! with it and they are linked as memories sharing keywords are.
//!
//! Front matter is read as the YAML that Obsidian writes for these keys: `key: value` lines,
//! values plain, single- or double-quoted, flow lists (`[a, "b"]`) and block lists (`- a`);
//! other keys and forms are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

use brain2_api::export::{MAX_IMPORT_UNPACKED_BYTES, MAX_IMPORT_ZIP_ENTRIES};
use brain2_api::{Export, ExportedMemory};
use time::OffsetDateTime;

use crate::domain::{self, NodeId};
use crate::transfer::{ImportRefused, Importable, bounded, derived_id};

/// The line before the links paragraph of an exported note.
pub const LINKS_MARKER: &str = "<!-- brain2:links -->";

/// The file name (without `.md`) of each memory, in the export's order: the content's first
/// words made safe for every file system and for wikilinks, and the last 8 hex digits of the id
/// (the whole id when two would still be the same).
pub fn file_names(memories: &[ExportedMemory]) -> Vec<String> {
    let short: Vec<String> = memories
        .iter()
        .map(|m| {
            let hex = m.id.0.simple().to_string();
            format!("{}-{}", slug(&m.content), &hex[hex.len() - 8..])
        })
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for name in &short {
        *counts.entry(name.as_str()).or_default() += 1;
    }
    memories
        .iter()
        .zip(&short)
        .map(
            |(m, name)| if counts[name.as_str()] > 1 { format!("{}-{}", slug(&m.content), m.id) } else { name.clone() },
        )
        .collect()
}

/// Up to 40 characters of the content's first line, without what a file name or a wikilink
/// cannot hold (`* " \ / < > : | ? # ^ [ ]`, control characters), spaces as `-`.
fn slug(content: &str) -> String {
    let line = content.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut slug = String::new();
    for c in line.chars() {
        let unsafe_char = matches!(c, '*' | '"' | '\\' | '/' | '<' | '>' | ':' | '|' | '?' | '#' | '^' | '[' | ']')
            || c.is_control()
            || c.is_whitespace();
        if unsafe_char {
            if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        } else {
            slug.push(c);
        }
        if slug.chars().count() >= 40 {
            break;
        }
    }
    let slug = slug.trim_matches(|c| c == '-' || c == '.').to_owned();
    if slug.is_empty() { "memory".to_owned() } else { slug }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

fn flow_list(values: &[String]) -> String {
    format!("[{}]", values.iter().map(|v| quoted(v)).collect::<Vec<_>>().join(", "))
}

/// One memory as a Markdown file.
pub fn note(memory: &ExportedMemory, names: &BTreeMap<NodeId, String>) -> String {
    let mut text = format!(
        "---\nid: {}\ncreated: {}\nupdated: {}\nversion: {}\ntags: {}\nkeywords: {}\n---\n{}\n",
        memory.id,
        memory.created_at,
        memory.updated_at,
        memory.version,
        flow_list(&memory.tags),
        flow_list(&memory.keywords),
        memory.content
    );
    let links: Vec<String> =
        memory.links.iter().filter_map(|l| names.get(&l.target)).map(|name| format!("[[{name}]]")).collect();
    if !links.is_empty() {
        text.push_str(&format!("\n{LINKS_MARKER}\n{}\n", links.join(" ")));
    }
    text
}

/// The export as a zip of notes.
pub fn export_zip(export: &Export) -> Result<Vec<u8>, zip::result::ZipError> {
    let names = file_names(&export.memories);
    let by_id: BTreeMap<NodeId, String> = export.memories.iter().map(|m| m.id).zip(names.iter().cloned()).collect();
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (memory, name) in export.memories.iter().zip(&names) {
        writer.start_file(format!("{name}.md"), options)?;
        writer.write_all(note(memory, &by_id).as_bytes())?;
    }
    Ok(writer.finish()?.into_inner())
}

/// What a note's front matter says, of what import reads.
#[derive(Debug, Clone, Default, PartialEq)]
struct FrontMatter {
    values: BTreeMap<String, Vec<String>>,
}

impl FrontMatter {
    fn first(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.values.get(*k).and_then(|v| v.first()).map(String::as_str))
    }

    fn list(&self, keys: &[&str]) -> Vec<String> {
        keys.iter().flat_map(|k| self.values.get(*k).cloned().unwrap_or_default()).collect()
    }
}

fn unquote(value: &str) -> String {
    let value = value.trim();
    if value.len() >= 2
        && value.starts_with('"')
        && value.ends_with('"')
        && let Ok(text) = serde_json::from_str::<String>(value)
    {
        return text;
    }
    if value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'') {
        return value[1..value.len() - 1].replace("''", "'");
    }
    value.to_owned()
}

/// The items of a flow list's inside (`a, "b, c"`), split at commas outside quotes.
fn flow_items(inside: &str) -> Vec<String> {
    let mut items = Vec::new();
    let (mut current, mut quote) = (String::new(), None::<char>);
    let mut escaped = false;
    for c in inside.chars() {
        match quote {
            Some(q) => {
                current.push(c);
                if q == '"' && c == '\\' && !escaped {
                    escaped = true;
                    continue;
                }
                if c == q && !escaped {
                    quote = None;
                }
                escaped = false;
            }
            None if c == ',' => items.push(std::mem::take(&mut current)),
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                current.push(c);
            }
        }
    }
    items.push(current);
    items.into_iter().map(|i| unquote(&i)).filter(|i| !i.is_empty()).collect()
}

/// Splits a note into its front matter and body (front matter is the `---` block it opens with).
fn front_matter(text: &str) -> (FrontMatter, &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n")) else {
        return (FrontMatter::default(), text);
    };
    let mut end = None;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            end = Some((offset, offset + line.len()));
            break;
        }
        offset += line.len();
    }
    let Some((block_end, body_start)) = end else { return (FrontMatter::default(), text) };
    let mut matter = FrontMatter::default();
    let mut list_key: Option<String> = None;
    for line in rest[..block_end].lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let (Some(key), Some(item)) = (&list_key, trimmed.strip_prefix('-'))
            && line.starts_with([' ', '\t', '-'])
        {
            let item = unquote(item);
            if !item.is_empty() {
                matter.values.entry(key.clone()).or_default().push(item);
            }
            continue;
        }
        list_key = None;
        let Some((key, value)) = line.split_once(':') else { continue };
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        let values = if value.is_empty() {
            list_key = Some(key.clone());
            Vec::new()
        } else if let Some(inside) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            flow_items(inside)
        } else {
            vec![unquote(value)]
        };
        matter.values.insert(key, values);
    }
    (matter, &rest[body_start..])
}

/// Whether a path in the zip is a note import reads.
fn is_note(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".md")
        && !path.split('/').any(|part| part.starts_with('.') || part == "__MACOSX")
        && !path.ends_with('/')
}

/// The memories of a zip of Markdown notes, checked whole: a problem names the file.
pub fn from_zip(body: &[u8]) -> Result<Vec<Importable>, ImportRefused> {
    let mut archive = zip::ZipArchive::new(Cursor::new(body))
        .map_err(|e| ImportRefused(format!("the body is not a zip archive: {e}")))?;
    if archive.len() > MAX_IMPORT_ZIP_ENTRIES {
        return Err(ImportRefused(format!(
            "the zip holds {} entries; an import takes at most {MAX_IMPORT_ZIP_ENTRIES}",
            archive.len()
        )));
    }
    let mut notes: Vec<(String, String, OffsetDateTime)> = Vec::new();
    let mut unpacked: u64 = 0;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| ImportRefused(format!("zip entry {index}: {e}")))?;
        let path = entry
            .name()
            .map_err(|e| ImportRefused(format!("zip entry {index} has no readable name: {e}")))?
            .replace('\\', "/");
        if entry.is_dir() || !is_note(&path) {
            continue;
        }
        let mut bytes = Vec::new();
        // Read at most what is left of the bound (plus one byte, to notice going past it), so a
        // zip that claims small sizes and unpacks large is caught too.
        let left = MAX_IMPORT_UNPACKED_BYTES.saturating_sub(unpacked);
        (&mut entry)
            .take(left + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ImportRefused(format!("{path}: cannot be unpacked: {e}")))?;
        unpacked += bytes.len() as u64;
        if unpacked > MAX_IMPORT_UNPACKED_BYTES {
            return Err(ImportRefused(format!(
                "the notes unpack to more than {} MiB; an import takes at most that",
                MAX_IMPORT_UNPACKED_BYTES >> 20
            )));
        }
        let text = String::from_utf8(bytes).map_err(|_| ImportRefused(format!("{path}: is not UTF-8 text")))?;
        let modified = entry.last_modified().and_then(zip_time).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        notes.push((path, text, modified));
    }
    bounded(notes.len())?;
    // The vault's own folder, when every note is inside the same one, is not a tag.
    let first_parts: BTreeSet<&str> = notes.iter().map(|(path, _, _)| path.split('/').next().unwrap_or("")).collect();
    let shared_top = notes.iter().all(|(path, _, _)| path.contains('/')) && first_parts.len() == 1;
    let memories: Vec<(String, Importable)> = notes
        .iter()
        .map(|(path, text, modified)| Ok((path.clone(), note_memory(path, text, *modified, shared_top)?)))
        .collect::<Result<_, ImportRefused>>()?;
    crate::transfer::distinct(memories)
}

fn zip_time(time: zip::DateTime) -> Option<OffsetDateTime> {
    let month = time::Month::try_from(time.month()).ok()?;
    let date = time::Date::from_calendar_date(i32::from(time.year()), month, time.day()).ok()?;
    let at = time::Time::from_hms(time.hour(), time.minute(), time.second()).ok()?;
    Some(time::PrimitiveDateTime::new(date, at).assume_utc())
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at.to_offset(time::UtcOffset::UTC));
    }
    // Obsidian's templates often write a date, or a date and time without a zone: read as UTC.
    let date_only = time::macros::format_description!("[year]-[month]-[day]");
    let date_time = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let spaced = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let spaced_short = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    for format in [date_time, spaced] {
        if let Ok(at) = time::PrimitiveDateTime::parse(text, format) {
            return Some(at.assume_utc());
        }
    }
    if let Ok(at) = time::PrimitiveDateTime::parse(text, spaced_short) {
        return Some(at.assume_utc());
    }
    time::Date::parse(text, date_only).ok().map(|d| d.midnight().assume_utc())
}

fn note_memory(
    path: &str,
    text: &str,
    modified: OffsetDateTime,
    shared_top: bool,
) -> Result<Importable, ImportRefused> {
    let (matter, body) = front_matter(text);
    let exported_id = matter.first(&["id"]).and_then(NodeId::parse);
    let mut tags: Vec<String> = matter
        .list(&["tags", "tag"])
        .iter()
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().trim_start_matches('#').trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let folders: Vec<&str> = path.split('/').collect();
    let folders = &folders[usize::from(shared_top)..folders.len() - 1];
    tags.extend(folders.iter().map(|f| (*f).to_owned()));
    let content = match exported_id {
        // The export's own note: its content, without the links paragraph.
        Some(_) => without_links(body).to_owned(),
        None => {
            let title = folders_free_title(path);
            let body = body.trim();
            let heading = format!("# {title}");
            if body.is_empty() {
                heading
            } else if body.lines().next().map(str::trim) == Some(heading.as_str()) {
                body.to_owned()
            } else {
                format!("{heading}\n\n{body}")
            }
        }
    };
    let input =
        domain::NodeInput { content, tags }.validate().map_err(|e| ImportRefused(format!("{path}: {}", e.0)))?;
    let created_at = match matter.first(&["created", "created_at", "date"]) {
        Some(text) => parse_time(text)
            .ok_or_else(|| ImportRefused(format!("{path}: created {text:?} is not a date or an RFC 3339 time")))?,
        None => modified,
    };
    let updated_at = match matter.first(&["updated", "modified", "updated_at"]) {
        Some(text) => parse_time(text)
            .ok_or_else(|| ImportRefused(format!("{path}: updated {text:?} is not a date or an RFC 3339 time")))?,
        None => created_at,
    }
    .max(created_at);
    let version = match matter.first(&["version"]) {
        Some(text) if exported_id.is_some() => text
            .parse::<u64>()
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| ImportRefused(format!("{path}: version {text:?} is not a whole number from 1")))?,
        _ => 1,
    };
    let id = exported_id.unwrap_or_else(|| derived_id(created_at, path, &input.content));
    Ok(Importable { id, content: input.content, tags: input.tags, created_at, updated_at, version })
}

/// An exported note's body without the links paragraph [`note`] appends: the marker's line
/// followed by one line of `[[links]]` and nothing else. A memory whose own text holds the
/// marker keeps it, and all that follows it.
fn without_links(body: &str) -> &str {
    let marker = format!("\n{LINKS_MARKER}\n");
    match body.rfind(&marker) {
        Some(at) => {
            let links = body[at + marker.len()..].trim_end_matches('\n');
            let only_links = links.starts_with("[[")
                && links.ends_with("]]")
                && !links.contains('\n')
                && !links.contains(LINKS_MARKER);
            if only_links { &body[..at] } else { body }
        }
        None => body,
    }
}

/// A note's title: its file name without folders and `.md`.
fn folders_free_title(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.get(..name.len().saturating_sub(3)).filter(|t| !t.is_empty()).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brain2_api::ExportedLink;

    fn memory(n: u128, content: &str, tags: &[&str], links: &[u128]) -> ExportedMemory {
        ExportedMemory {
            id: NodeId(uuid::Uuid::from_u128(n)),
            content: content.to_owned(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            keywords: vec!["k".into()],
            created_at: "2026-11-30T09:00:00Z".into(),
            updated_at: "2026-11-30T10:00:00.5Z".into(),
            version: 3,
            links: links
                .iter()
                .map(|&t| ExportedLink { target: NodeId(uuid::Uuid::from_u128(t)), weight: 1, shared_keywords: vec![] })
                .collect(),
        }
    }

    fn vault(files: &[(&str, &str)]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::from_date_and_time(2025, 3, 4, 5, 6, 8).unwrap());
        for (path, text) in files {
            if path.ends_with('/') {
                writer.add_directory(*path, options).unwrap();
            } else {
                writer.start_file(*path, options).unwrap();
                writer.write_all(text.as_bytes()).unwrap();
            }
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn the_export_zip_reads_back_as_the_same_memories_and_is_deterministic() {
        let memories = vec![
            memory(0xa1, "Rust graph: renderer?\nsecond line", &["work", "a \"quoted\" tag"], &[0xb2]),
            memory(0xb2, "  \n[[Not a link]] kept as written\n\n", &[], &[0xa1]),
            memory(0xc3, "Rust graph: renderer?", &[], &[]),
        ];
        let export = Export::new("2026-12-01T00:00:00Z".into(), memories.clone());
        let zip = export_zip(&export).unwrap();
        assert_eq!(zip, export_zip(&export).unwrap(), "byte for byte the same");
        let names = file_names(&memories);
        assert_eq!(names[0], "Rust-graph-renderer-000000a1");
        let text = note(&memories[0], &memories.iter().map(|m| m.id).zip(names.clone()).collect());
        assert!(text.ends_with(&format!("\n{LINKS_MARKER}\n[[{}]]\n", names[1])), "{text}");
        let back = from_zip(&zip).unwrap();
        assert_eq!(back.len(), 3);
        for (imported, original) in back.iter().zip(&memories) {
            assert_eq!(imported.id, original.id);
            assert_eq!(imported.content, original.content.trim());
            assert_eq!(imported.tags, original.tags);
            assert_eq!(imported.version, 3);
            assert_eq!(domain::rfc3339(imported.updated_at), original.updated_at);
        }
    }

    #[test]
    fn a_memory_that_holds_the_links_marker_keeps_all_its_text() {
        let own =
            format!("Notes on the export format:\n{LINKS_MARKER}\nis how links start, then [[a]] [[b]]\nand more.");
        let lonely = memory(0xb1, &own, &[], &[]);
        let linked = memory(0xb2, &own, &[], &[0xb1]);
        let zip = export_zip(&Export {
            format: brain2_api::export::EXPORT_FORMAT.into(),
            version: brain2_api::export::EXPORT_VERSION,
            exported_at: "2026-12-01T00:00:00Z".into(),
            memories: vec![lonely, linked],
        })
        .unwrap();
        for imported in from_zip(&zip).unwrap() {
            assert_eq!(imported.content, own, "no links, or the links paragraph only, is taken off");
        }
        let copied = vault(&[
            ("a.md", "---\nid: 0190f0e4-8f3a-7c6b-9d2e-1a2b3c4d5e6f\n---\nrust\n"),
            ("copy of a.md", "---\nid: 0190f0e4-8f3a-7c6b-9d2e-1a2b3c4d5e6f\n---\nrust, edited\n"),
        ]);
        let error = from_zip(&copied).unwrap_err();
        assert!(error.0.contains("a.md and copy of a.md have the same id"), "{error}");
    }

    #[test]
    fn an_obsidian_vault_gives_tags_from_front_matter_and_folders() {
        let zip = vault(&[
            ("My Vault/", ""),
            ("My Vault/.obsidian/app.json", "{}"),
            (
                "My Vault/Projects/Brain2.md",
                "---\ntags: [rust, \"graph\"]\ncreated: 2024-05-01\n---\nSee [[Graphs]].\n",
            ),
            (
                "My Vault/Graphs.md",
                "---\ntags:\n  - '#maths'\n  - graph\naliases: [g]\n---\n# Graphs\n\nNodes and edges.",
            ),
            ("My Vault/Daily/2024/Empty.md", ""),
            ("My Vault/picture.png", "not a note"),
            ("__MACOSX/My Vault/._Graphs.md", "resource fork"),
        ]);
        let notes = from_zip(&zip).unwrap();
        let by_title: BTreeMap<&str, &Importable> =
            notes.iter().map(|n| (n.content.lines().next().unwrap(), n)).collect();
        let brain2 = by_title["# Brain2"];
        assert_eq!(brain2.content, "# Brain2\n\nSee [[Graphs]].");
        assert_eq!(brain2.tags, ["rust", "graph", "Projects"]);
        assert_eq!(domain::rfc3339(brain2.created_at), "2024-05-01T00:00:00Z");
        let graphs = by_title["# Graphs"];
        assert_eq!(graphs.content, "# Graphs\n\nNodes and edges.", "a heading that is the title is not repeated");
        assert_eq!(graphs.tags, ["maths", "graph"]);
        assert_eq!(domain::rfc3339(graphs.created_at), "2025-03-04T05:06:08Z", "the file's time in the zip");
        assert_eq!(by_title["# Empty"].tags, ["Daily", "2024"]);
        // The title's words are keywords of the note, and of every note that links to it.
        let linked = crate::keywords::of_memory(&brain2.content, &brain2.tags);
        assert!(linked.contains(&"graphs".to_owned()));
        assert!(crate::keywords::of_memory(&graphs.content, &graphs.tags).contains(&"graphs".to_owned()));
        assert_eq!(from_zip(&zip).unwrap(), notes, "the same vault gives the same ids");
    }

    #[test]
    fn bad_vaults_are_refused_naming_the_file() {
        assert!(from_zip(b"not a zip").unwrap_err().0.contains("not a zip"));
        let long = vault(&[("ok.md", "fine"), ("notes/long.md", &"x".repeat(5_001))]);
        assert!(from_zip(&long).unwrap_err().0.starts_with("notes/long.md: content has"));
        let binary = vault(&[("bad.md", "\u{0}")]);
        assert!(from_zip(&binary).is_ok());
        let mut bytes = vault(&[("latin1.md", "x")]);
        let at = bytes.windows(1).position(|w| w == b"x").unwrap();
        bytes[at] = 0xff;
        let refused = from_zip(&bytes).unwrap_err();
        assert!(refused.0.contains("latin1.md"), "{refused}");
        let dated = vault(&[("d.md", "---\ncreated: last tuesday\n---\ntext")]);
        assert!(from_zip(&dated).unwrap_err().0.contains("d.md: created"));
    }
}
