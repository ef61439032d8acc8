//! No code: see this crate's manifest. Nothing links it.
