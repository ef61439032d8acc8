// Empty: it gives the build-dependencies in Cargo.toml a place (see there).
fn main() {}
