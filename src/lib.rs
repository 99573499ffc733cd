//! stackc compiles one `stack.toml` into every file of a correlated observability stack.
//!
//! The pipeline, one module per step:
//!
//! 1. `load`: read the file and parse it with recovery, keeping every span.
//! 2. `validate`: the schema check (`schema`) and the semantic checks, all diagnostics
//!    at once (`diagnostic` renders them as `file:line:col` with carets).
//! 3. `model`: the resolved `Stack`, defaults applied and names sanitised.
//! 4. `targets`: pure rendering, one module per emitted target, through the embedded
//!    strict templates of `templates`.
//! 5. `emit`: write all files or none, check drift, print diffs.
//!
//! `cli` maps commands onto these steps; `graph` draws a stack as Mermaid; `review`
//! compares two stacks for a pull request (`stackc diff --base REV`): what changes in the
//! running stack, and what is risky; `wiring` holds the names the generated files must
//! agree on; `images` names stackc's own images (the registry they are published to) and
//! lists the images a stack must build.
pub mod cli;
pub mod diagnostic;
pub mod duration;
pub mod emit;
pub mod graph;
pub mod images;
pub mod levels;
pub mod load;
pub mod model;
pub mod raw;
pub mod review;
pub mod schema;
pub mod targets;
pub mod templates;
pub mod validate;
pub mod wiring;
