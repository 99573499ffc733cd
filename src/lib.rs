//! stackc compiles one `stack.toml` into every file of a correlated observability stack.
pub mod cli;
pub mod diagnostic;
pub mod duration;
pub mod load;
pub mod model;
pub mod raw;
pub mod schema;
pub mod validate;
