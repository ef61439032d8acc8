//! The views, one module each; each takes the shared [`State`](crate::state::State).

mod composer;
mod detail_panel;
mod edit_box;
mod graph_view;
mod memory_item;
mod memory_list;
mod search_box;
mod sign_in;
mod workspace;
mod your_data;

pub use composer::Composer;
pub use detail_panel::DetailPanel;
pub use edit_box::EditBox;
pub use graph_view::GraphView;
pub use memory_item::MemoryItem;
pub use memory_list::MemoryList;
pub use search_box::SearchBox;
pub use sign_in::SignIn;
pub use workspace::Workspace;
pub use your_data::YourData;
