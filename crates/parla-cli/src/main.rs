//! The `parla` command.
fn main() {}
