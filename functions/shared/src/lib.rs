//! What the Brain2 Lambdas share. So far: keyword extraction, which both the backend (on write)
//! and connect-node (to score neighbours) must compute identically.

pub mod keywords;
