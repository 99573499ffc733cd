//! The `stackc` binary.
fn main() {}
