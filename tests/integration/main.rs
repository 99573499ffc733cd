//! The one integration-test binary (see CONTRIBUTING.md): CLI cases run by trycmd, the
//! schema and examples, and property tests of the checker.

mod cli;
mod examples;
mod properties;
mod support;
