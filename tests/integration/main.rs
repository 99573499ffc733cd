//! The one integration-test binary (see CONTRIBUTING.md): CLI cases run by trycmd, the
//! schema and examples, golden trees, the generated files read back and checked by real
//! tools, build semantics, property tests of the checker, the review of a stack change
//! (`stackc diff --base`), and what a release promises.

mod alerts;
mod build;
mod cli;
mod demo_app;
mod examples;
mod faults;
mod golden;
mod grafana;
mod otlp;
mod outputs;
mod pg;
mod privileges;
mod properties;
mod release;
mod review;
mod secrets;
mod smoke;
mod support;
mod valid_stacks;
