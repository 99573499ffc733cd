//! The one integration-test binary (see CONTRIBUTING.md): CLI cases run by trycmd, the
//! schema and examples, golden trees, the generated files read back and checked by real
//! tools, build semantics, and property tests of the checker.

mod build;
mod cli;
mod examples;
mod golden;
mod outputs;
mod properties;
mod smoke;
mod support;
