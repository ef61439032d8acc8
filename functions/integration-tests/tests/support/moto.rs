//! The shared moto server (see `xtask::moto`).

pub use xtask::moto::*;
