//! The core of the DSL: typed values and intrinsics, resources and handles, the app of stacks,
//! and synthesis to deterministic JSON.

mod app;
mod error;
mod intrinsic;
mod json;
mod resource;
mod synth;
mod value;

pub use app::{App, Condition, Parameter, ParameterSpec};
pub use error::{CycleStep, DslError, Result};
pub use intrinsic::{cond, fns, pseudo, ConditionId, Intrinsic, ParameterId, Pseudo, RefTarget, ResourceId, StackId};
pub use json::{Json, ToJson};
pub use resource::{DeletionPolicy, Handle, RemovalPolicy, Resource, ResourceAttributes, UpdateReplacePolicy};
pub use synth::{limits, synthesize, Synthesized, SynthesizedStack};
pub use value::{Expr, Value};

impl App {
    /// Synthesizes every stack; see [`synthesize`].
    pub fn synth(&self) -> Result<Synthesized> {
        synthesize(self)
    }
}
