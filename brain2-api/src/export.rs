//! What a user owns, moved in and out: `GET /api/export`, `POST /api/import` and
//! `DELETE /api/account`.
//!
//! The export's JSON ([`Export`], schema in `docs/api/export.schema.json`) holds every memory with
//! its tags, keywords, links, version and times. Import takes that document back, or a zip of
//! Markdown notes (an Obsidian vault, or the Markdown export). Keywords and links are not read
//! back: they follow from content and tags, and connect-node links the imported memories as it
//! links any other, so a round trip keeps them.

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// The export document's `format`.
pub const EXPORT_FORMAT: &str = "brain2-export";
/// The largest memory version an export may carry (what the API's numbers keep exactly).
pub const MAX_MEMORY_VERSION: u64 = 999_999_999_999_999;

/// JSON has one number type, and to JSON Schema (so to the OpenAPI document) `2.0` is the
/// integer 2: such numbers are read as integers, and anything else is refused, naming the value.
mod integral {
    use serde::Deserialize;
    use serde::de::{Deserializer, Error};

    pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<u64>>(deserializer: D) -> Result<T, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        let whole = match (number.as_u64(), number.as_f64()) {
            (Some(whole), _) => Some(whole),
            (None, Some(float)) if float.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&float) => {
                Some(float as u64)
            }
            _ => None,
        };
        whole
            .and_then(|whole| T::try_from(whole).ok())
            .ok_or_else(|| D::Error::custom(format!("{number} is not a whole number in range")))
    }
}

/// The export document's `version`: import reads this version only.
pub const EXPORT_VERSION: u32 = 1;

/// An import body is at most this many bytes: API Gateway hands Lambda a binary body in base64
/// (a third larger), and Lambda takes at most 6 MB of event.
pub const MAX_IMPORT_BYTES: usize = 4 * 1024 * 1024;
/// An import holds at most this many memories, so that it is written well within the API's
/// 30 seconds. Larger exports are imported in parts (the web client splits them).
pub const MAX_IMPORT_MEMORIES: usize = 1_000;
/// A zip may hold at most this many entries, of any kind.
pub const MAX_IMPORT_ZIP_ENTRIES: usize = 5_000;
/// Its files may unpack to at most this many bytes in all.
pub const MAX_IMPORT_UNPACKED_BYTES: u64 = 32 * 1024 * 1024;

/// An export inline is at most this many bytes of JSON, counted as Lambda's answer carries it
/// (a JSON string: every `"` and `\` escaped once more); a larger one goes to S3 behind a
/// presigned link ([`ExportLink`]): Lambda answers at most 6 MB, and the envelope takes its share.
pub const MAX_INLINE_EXPORT_BYTES: usize = 5_500_000;
/// A zip is sent in base64, so it may be at most this many bytes inline.
pub const MAX_INLINE_ZIP_BYTES: usize = 4_000_000;
/// How long a presigned download link is valid.
pub const DOWNLOAD_LINK_SECONDS: u64 = 300;

/// `GET /api/export`: every memory of the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Export {
    /// Always `brain2-export`.
    #[cfg_attr(feature = "openapi", schemars(extend("const" = EXPORT_FORMAT)))]
    pub format: String,
    /// The document's version (1).
    #[cfg_attr(feature = "openapi", schemars(extend("const" = EXPORT_VERSION)))]
    pub version: u32,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub exported_at: String,
    /// Oldest first.
    pub memories: Vec<ExportedMemory>,
}

/// One memory as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExportedMemory {
    /// Kept by import: importing into another account keeps the ids, and importing twice finds
    /// them there.
    pub id: NodeId,
    #[cfg_attr(feature = "openapi", schemars(length(max = crate::MAX_CONTENT_CHARS), pattern(crate::NON_BLANK)))]
    pub content: String,
    #[cfg_attr(
        feature = "openapi",
        schemars(length(max = crate::MAX_TAGS), inner(length(max = crate::MAX_TAG_CHARS), pattern(crate::NON_BLANK)))
    )]
    pub tags: Vec<String>,
    /// Derived from content and tags; import computes them again.
    pub keywords: Vec<String>,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub updated_at: String,
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = MAX_MEMORY_VERSION)))]
    #[serde(deserialize_with = "integral::deserialize")]
    pub version: u64,
    /// The memories it is linked to (each link is listed at both ends). Derived; import lets
    /// connect-node link again.
    pub links: Vec<ExportedLink>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExportedLink {
    pub target: NodeId,
    /// How many keywords the two share.
    #[cfg_attr(feature = "openapi", schemars(range(max = 4_294_967_295u32)))]
    #[serde(deserialize_with = "integral::deserialize")]
    pub weight: u32,
    pub shared_keywords: Vec<String>,
}

/// `?format=` of `GET /api/export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ExportFormat {
    /// The [`Export`] document.
    #[default]
    Json,
    /// A zip of one Markdown file per memory, with front matter and `[[links]]`.
    Markdown,
}

impl ExportFormat {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "json" => Some(Self::Json),
            "markdown" => Some(Self::Markdown),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Markdown => "application/zip",
        }
    }

    pub fn file_extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Markdown => "zip",
        }
    }

    /// What a browser saves an export of `date` (`YYYY-MM-DD`) as: dated, so that exports of
    /// different days sit side by side.
    pub fn file_name(self, date: impl std::fmt::Display) -> String {
        format!("brain2-export-{date}.{}", self.file_extension())
    }
}

/// `GET /api/export` answers 201 with this when the export is too large to answer inline: it was
/// written to S3, and `downloadUrl` fetches it until `expiresAt` (`Location` says the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportLink {
    pub download_url: String,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub expires_at: String,
    pub bytes: u64,
    pub format: ExportFormat,
    pub memories: usize,
}

/// `POST /api/import`'s answer: what the import held and what it added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// `json` (an export document) or `markdown` (a zip of notes).
    pub format: ExportFormat,
    /// Memories the import held.
    pub memories: usize,
    /// Memories it added.
    pub created: usize,
    /// Memories that were there already (an earlier import of the same notes): left as they are.
    pub already_present: usize,
    /// Memories not imported because a delete of theirs is under way: the same import again,
    /// once the delete is done, brings them back (a delete that stopped part-way is finished by
    /// connect-node or graph-check after 15 minutes).
    #[serde(default)]
    pub being_deleted: Vec<NodeId>,
}

/// `DELETE /api/account`'s answer: how many of each kind of item were removed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AccountDeleted {
    pub nodes: usize,
    /// Edge items, one per direction.
    pub edges: usize,
    pub postings: usize,
    /// Other items of the user's partition (none are written today).
    pub other_items: usize,
    pub connections: usize,
    pub exports: usize,
}

impl Export {
    pub fn new(exported_at: String, memories: Vec<ExportedMemory>) -> Self {
        Self { format: EXPORT_FORMAT.to_owned(), version: EXPORT_VERSION, exported_at, memories }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_written_as_floats_are_read_and_fractions_refused() {
        let link = |weight: &str| {
            serde_json::from_str::<ExportedLink>(&format!(
                r#"{{"target":"01a23d53-3c05-7214-8e55-5926c776b4d2","weight":{weight},"sharedKeywords":[]}}"#
            ))
        };
        assert_eq!(link("3.0").unwrap().weight, 3);
        assert_eq!(link("3").unwrap().weight, 3);
        let refused = link("3.5").unwrap_err().to_string();
        assert!(refused.contains("3.5 is not a whole number"), "{refused}");
        assert!(link("4294967296").is_err(), "past u32");
        assert!(link("-1").is_err());
    }

    #[test]
    fn the_document_round_trips_and_refuses_unknown_fields() {
        let id = NodeId::parse("0190f0e4-8f3a-7c6b-9d2e-1a2b3c4d5e6f").unwrap();
        let export = Export::new(
            "2026-12-01T10:00:00Z".into(),
            vec![ExportedMemory {
                id,
                content: "rust graphs".into(),
                tags: vec!["work".into()],
                keywords: vec!["#work".into(), "graphs".into(), "rust".into()],
                created_at: "2026-11-30T09:00:00Z".into(),
                updated_at: "2026-11-30T09:05:00Z".into(),
                version: 2,
                links: vec![ExportedLink { target: id, weight: 1, shared_keywords: vec!["rust".into()] }],
            }],
        );
        let json = serde_json::to_string(&export).unwrap();
        assert!(json.starts_with(r#"{"format":"brain2-export","version":1,"exportedAt""#), "{json}");
        assert_eq!(serde_json::from_str::<Export>(&json).unwrap(), export);
        let extra = json.replacen(r#""version":1"#, r#""version":1,"extra":true"#, 1);
        assert!(serde_json::from_str::<Export>(&extra).unwrap_err().to_string().contains("extra"));
    }
}

/// Two different items of an import with one id, by their positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SameId {
    pub id: NodeId,
    pub earlier: usize,
    pub later: usize,
}

/// The items of an import, each id once, checked whole: an item that is `same` as an earlier one
/// with its id is dropped (a memory copied whole); one that differs refuses the import, since
/// written side by side which one the store kept would be chance. The API checks each request
/// this way, and the web client a whole export before it sends it in parts.
pub fn each_id_once<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> NodeId,
    same: impl Fn(&T, &T) -> bool,
) -> Result<Vec<T>, SameId> {
    // By id: the position in `items`, and in `kept`.
    let mut first: std::collections::HashMap<NodeId, (usize, usize)> = std::collections::HashMap::new();
    let mut kept: Vec<T> = Vec::with_capacity(items.len());
    for (at, item) in items.into_iter().enumerate() {
        match first.get(&id(&item)) {
            Some(&(_, index)) if same(&kept[index], &item) => {}
            Some(&(earlier, _)) => return Err(SameId { id: id(&item), earlier, later: at }),
            None => {
                first.insert(id(&item), (at, kept.len()));
                kept.push(item);
            }
        }
    }
    Ok(kept)
}
