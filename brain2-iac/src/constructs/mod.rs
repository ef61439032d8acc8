//! Higher-level building blocks over the generated types, with secure defaults: what a stack is
//! written in. Each takes `&mut App` and a stack, adds its resources under readable logical ids
//! derived from the id it is given, and returns handles for wiring and grants.

pub mod api;
pub mod domain;
pub mod events;
pub mod function;
pub mod iam;
pub mod key;
pub mod static_site;
pub mod table;

pub use function::{AsyncFailure, CodeLocation, RustFunction, RustFunctionProps};
pub use iam::{Grantee, Statement, grant};
pub use key::EncryptionKey;
pub use static_site::{BucketProps, PrivateBucket, TaggedExpiry};
pub use table::{GlobalIndex, IndexProjection, Key, Table, TableProps};
