//! The Brain2 web client: Rust compiled to WebAssembly (Leptos, client-side rendering). It reads
//! its API and sign-in addresses from `config.json`, signs in against Supabase Auth (or the local
//! stand-in of `cargo xtask dev`), and draws the graph with its own canvas renderer (`graph.js`).

mod api;
mod app;
mod auth;
mod graph;
mod live;
mod session;
mod state;
mod sync;
mod views;

fn main() {
    leptos::mount::mount_to_body(app::App);
}
