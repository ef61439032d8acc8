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
pub use error::{CrossRegionReference, CycleStep, DslError, Result};
pub use intrinsic::{ConditionId, Intrinsic, ParameterId, Pseudo, RefTarget, ResourceId, StackId, cond, fns, pseudo};
pub use json::{Json, ToJson};
pub use resource::{DeletionPolicy, Handle, RemovalPolicy, Resource, ResourceAttributes, UpdateReplacePolicy};
pub use synth::{OutputSource, Synthesized, SynthesizedStack, limits, synthesize};
pub use value::{Expr, Value};

impl App {
    /// Synthesizes every stack; see [`synthesize`].
    pub fn synth(&self) -> Result<Synthesized> {
        synthesize(self)
    }
}

/// The generator's golden output, compiled against this crate, so that the golden file is
/// known to be valid Rust and its values serialize as the schema says.
#[cfg(test)]
#[path = "../../../xtask/tests/fixtures/codegen/example-test-widget.rs.golden"]
mod golden_widget;

#[cfg(test)]
mod golden_widget_tests {
    use super::golden_widget::{Color, Mode, Rule, Tag, Widget};
    use super::*;

    #[test]
    fn generated_types_serialize_with_template_names() {
        let widget = Widget::new(Mode::SlowMode, "w1")
            .colors(vec![Color::Red])
            .size(3)
            .rules(vec![Rule::new("outer").not(Rule::new("inner"))])
            .tags(vec![Tag::new("team", "brain2")]);
        let json = widget.to_json();
        assert_eq!(json.get("Mode"), Some(&Json::String("slow.mode".into())));
        assert_eq!(json.get("Size"), Some(&Json::Int(3)));
        let rule = &json.get("Rules").unwrap();
        let Json::Array(rules) = rule else { panic!("Rules is a list") };
        assert_eq!(rules[0].get("Not").and_then(|n| n.get("Name")), Some(&Json::String("inner".into())));
        assert_eq!(<Widget as Resource>::CREATE_ONLY_PROPERTIES, ["/properties/Name", "/properties/Mode"]);
    }
}
