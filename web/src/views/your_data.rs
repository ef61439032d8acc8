//! The user's data as a whole: download it (JSON or Markdown), import an export or an Obsidian
//! vault (with progress), and delete the account after a confirmation.

use brain2_api::export::each_id_once;
use brain2_api::export::{MAX_IMPORT_BYTES, MAX_IMPORT_MEMORIES};
use brain2_api::{Export, ExportFormat, ExportedMemory};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::api::Exported;
use crate::auth;
use crate::state::State;

/// An export is sent in parts of at most this many memories (import is idempotent, so a part
/// that failed can be sent again).
const IMPORT_PART: usize = 500;

#[component]
pub fn YourData(state: State) -> impl IntoView {
    let busy = RwSignal::new(false);
    let progress = RwSignal::new(None::<String>);
    let download = move |format: ExportFormat| {
        let Some(api) = state.api() else { return };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        progress.set(Some("Preparing your download…".to_owned()));
        spawn_local(async move {
            let result = api.export(format).await;
            busy.set(false);
            match result {
                Ok(Exported::Bytes(bytes)) => {
                    let name = format!("brain2-export.{}", format.file_extension());
                    progress.set(Some(format!("Downloaded {name} ({} KB).", bytes.len().div_ceil(1024))));
                    save_file(&bytes, &name, format.content_type());
                }
                Ok(Exported::Link(link)) => {
                    // The file is saved by the browser from the link (S3 answers it as an
                    // attachment), so the page stays and nothing this large passes through wasm.
                    progress.set(Some(format!(
                        "Your export of {} memories ({} MB) is downloading; its link works until {}.",
                        link.memories,
                        link.bytes.div_ceil(1 << 20),
                        link.expires_at
                    )));
                    follow(&link.download_url);
                }
                Err(error) => {
                    progress.set(None);
                    state.failed("download your memories", error);
                }
            }
        });
    };
    let import = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return };
        let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
        input.set_value("");
        let Some(api) = state.api() else { return };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        spawn_local(async move {
            let name = file.name();
            let outcome = import_file(&api, &file, progress).await;
            busy.set(false);
            match outcome {
                Ok(message) => {
                    progress.set(Some(message));
                    state.resync();
                }
                Err(message) => {
                    progress.set(None);
                    state.error.set(Some(format!("Could not import {name}: {message}")));
                }
            }
        });
    };
    let delete_account = move |_| {
        let confirmed = web_sys::window()
            .and_then(|w| {
                w.confirm_with_message(
                    "Delete your account? Every memory, tag and link is removed for good. Download them first if you want to keep them.",
                )
                .ok()
            })
            .unwrap_or(false);
        let (Some(api), Some(config), Some(session)) =
            (state.api(), state.config.get_untracked(), state.session.get_untracked())
        else {
            return;
        };
        if !confirmed || busy.get_untracked() {
            return;
        }
        busy.set(true);
        progress.set(Some("Deleting your account…".to_owned()));
        spawn_local(async move {
            let result = api.delete_account().await;
            busy.set(false);
            match result {
                Ok(deleted) => {
                    let signed_in_elsewhere = !auth::delete_user(&config, &session).await;
                    let notice = format!(
                        "Your account was deleted: {} memories and everything linked to them.{}",
                        deleted.nodes,
                        if signed_in_elsewhere { " Your sign-in stays with the sign-in service." } else { "" }
                    );
                    state.end_session(Some(notice));
                }
                Err(error) => {
                    progress.set(None);
                    state.write_failed("delete your account", error);
                }
            }
        });
    };
    view! {
        <details class="your-data" id="your-data">
            <summary>"Your data"</summary>
            <div class="your-data-actions">
                <button id="export-json" disabled=move || busy.get() on:click=move |_| download(ExportFormat::Json)>"Download (JSON)"</button>
                <button id="export-markdown" disabled=move || busy.get() on:click=move |_| download(ExportFormat::Markdown)>"Download (Markdown)"</button>
                <label for="import-file">"Import an export or an Obsidian vault (.json, .zip)"</label>
                <input id="import-file" type="file" accept=".json,.zip,application/json,application/zip"
                    disabled=move || busy.get() on:change=import/>
                <button id="delete-account" class="danger" disabled=move || busy.get() on:click=delete_account>"Delete account…"</button>
            </div>
            <p class="muted" id="data-progress" role="status" aria-live="polite">{move || progress.get().unwrap_or_default()}</p>
        </details>
    }
}

/// Reads and sends one file, saying how far it is in `progress`; the final message, or why not.
async fn import_file(
    api: &crate::api::Api,
    file: &web_sys::File,
    progress: RwSignal<Option<String>>,
) -> Result<String, String> {
    let name = file.name();
    if file.size() > 64.0 * 1024.0 * 1024.0 {
        return Err("the file is over 64 MB".to_owned());
    }
    progress.set(Some(format!("Reading {name}…")));
    let buffer =
        wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await.map_err(|_| "it cannot be read".to_owned())?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    if name.to_ascii_lowercase().ends_with(".zip") {
        if bytes.len() > MAX_IMPORT_BYTES {
            return Err(format!("a zip is imported whole, and may be at most {} MB", MAX_IMPORT_BYTES >> 20));
        }
        progress.set(Some(format!("Importing the notes of {name}…")));
        let report = api.import(bytes, "application/zip").await.map_err(|e| e.to_string())?;
        return Ok(imported(
            &name,
            report.created,
            report.already_present,
            report.being_deleted.len(),
            report.memories,
        ));
    }
    let mut export: Export = serde_json::from_slice(&bytes).map_err(|e| format!("it is not a Brain2 export: {e}"))?;
    export.memories = distinct(export.memories)?;
    let total = export.memories.len();
    let (mut created, mut present, mut being_deleted, mut done) = (0, 0, 0, 0);
    progress.set(Some(format!("Importing {total} memories…")));
    for part in export.memories.chunks(IMPORT_PART.min(MAX_IMPORT_MEMORIES)) {
        let body = Export { memories: part.to_vec(), ..export.clone() };
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let report = api
            .import(body, "application/json")
            .await
            .map_err(|e| format!("{e} (after {done} of {total}; importing again adds only what is missing)"))?;
        created += report.created;
        present += report.already_present;
        being_deleted += report.being_deleted.len();
        done += part.len();
        progress.set(Some(format!("Imported {done} of {total} memories…")));
    }
    Ok(imported(&name, created, present, being_deleted, total))
}

/// The export's memories, each id once, checked whole before it is sent in parts (the API
/// checks each part alone), comparing what the API imports: content, tags, times, version.
fn distinct(memories: Vec<ExportedMemory>) -> Result<Vec<ExportedMemory>, String> {
    fn compared(m: &ExportedMemory) -> (&str, &[String], &str, &str, u64) {
        (&m.content, &m.tags, &m.created_at, &m.updated_at, m.version)
    }
    each_id_once(memories, |m| m.id, |a, b| compared(a) == compared(b)).map_err(|same| {
        format!(
            "memories[{}] and memories[{}] have the same id {} but differ; remove the id from one of them",
            same.earlier, same.later, same.id
        )
    })
}

/// What an import did, in a sentence.
fn imported(name: &str, created: usize, present: usize, being_deleted: usize, total: usize) -> String {
    let mut text = format!("Imported {name}: {created} new memories, {present} already there, of {total}.");
    if being_deleted > 0 {
        text.push_str(&format!(
            " {being_deleted} were being deleted and were not imported: import the same file again once the delete is done to bring them back."
        ));
    }
    text
}

/// Opens `url` as a link the user clicked: S3 answers it as an attachment, so it downloads and
/// the page stays. (A hidden frame would keep the page even if S3 refused, but the site's CSP
/// frames nothing.)
fn follow(url: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    if let Ok(link) = document.create_element("a").map(|e| e.unchecked_into::<web_sys::HtmlAnchorElement>()) {
        link.set_href(url);
        link.click();
    }
}

/// Hands `bytes` to the browser as a download named `name`.
fn save_file(bytes: &[u8], name: &str, content_type: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(content_type);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options) else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    if let Ok(link) = document.create_element("a").map(|e| e.unchecked_into::<web_sys::HtmlAnchorElement>()) {
        link.set_href(&url);
        link.set_download(name);
        link.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
