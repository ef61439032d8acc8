//! brain2-iac: a typed Rust DSL for AWS CloudFormation. The Brain2 stacks written in it live
//! in brain2-stacks.
//!
//! Layers, bottom up (see ARCHITECTURE.md):
//! - `schemas/`: AWS's resource provider schemas, vendored;
//! - [`aws`]: Rust types generated from them by `cargo xtask codegen`;
//! - [`cfn`]: values, intrinsics, resources, the app of stacks, and synthesis to JSON;
//! - [`constructs`]: higher-level building blocks with secure defaults.

pub mod aws;
pub mod cfn;
pub mod config;
pub mod constructs;
pub mod policy;
