//! What the Brain2 Lambdas share: the domain and its validation, keyword extraction, the
//! DynamoDB stores, the events and their publisher, configuration, telemetry and SDK setup.
//! Each function crate is a thin handler over this.

pub mod aws;
pub mod check;
pub mod config;
pub mod connections;
pub mod domain;
pub mod dynamo;
pub mod events;
pub mod graph_page;
pub mod http;
#[cfg(feature = "jwt")]
pub mod jwt_crypto;
pub mod keys;
pub mod keywords;
pub mod markdown;
pub mod memory;
pub mod panic;
pub mod scoring;
pub mod search;
pub mod seed;
pub mod telemetry;
pub mod transfer;
