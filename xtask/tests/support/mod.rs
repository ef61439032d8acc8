//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod browser;
pub mod dev;
