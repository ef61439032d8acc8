//! `cargo xtask synth`. The `cargo xtask` launcher sends it to `brain2-synth`
//! (`brain2_stacks::synth`), which does not link the rest of xtask; this entry runs the same
//! code for `cargo run --bin xtask -- synth` and lists it in `cargo xtask --help`.

pub use brain2_stacks::synth::Args;
