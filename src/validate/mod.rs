//! Step 2: everything that can be wrong with a `stack.toml`, found before anything is
//! written, and all of it reported at once.
//!
//! Syntax errors (from the TOML parser) stop here: the rest would be guesses. Otherwise
//! the schema check (`schema.rs`) finds unknown keys and wrong types; the values it
//! refused are pruned from the document, so that the semantic checks (`semantic.rs`) can
//! still run over everything else and report in the same pass.

mod semantic;

pub use semantic::is_project_name;

use std::collections::BTreeSet;

use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::model::Stack;
use crate::{load, schema};

/// What checking a file gives: the stack when it has no error, and every diagnostic
/// (errors and warnings) in source order.
#[derive(Debug)]
pub struct Checked {
    pub stack: Option<Stack>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Runs every check over one stack file.
pub fn check(source: &SourceFile) -> Checked {
    let load::Parsed {
        mut table,
        json,
        spans,
    } = match load::parse(source) {
        Ok(parsed) => parsed,
        Err(diagnostics) => {
            return Checked {
                stack: None,
                diagnostics,
            };
        }
    };
    let shape = schema::check(&json, &spans);
    let mut pruned = BTreeSet::new();
    for problem in &shape {
        prune(table.get_mut(), &problem.pointer);
        pruned.insert(problem.pointer.clone());
    }
    let mut diagnostics: Vec<Diagnostic> = shape.into_iter().map(|p| p.diagnostic).collect();
    match load::deserialize(table) {
        Ok(raw) => {
            let (stack, found) = semantic::resolve(&raw, &spans, &pruned);
            diagnostics.extend(found);
            sort(&mut diagnostics);
            let has_errors = diagnostics.iter().any(Diagnostic::is_error);
            Checked {
                stack: stack.filter(|_| !has_errors),
                diagnostics,
            }
        }
        Err(diagnostic) => {
            // The schema and the types disagree: report what serde saw, as well.
            diagnostics.push(diagnostic);
            sort(&mut diagnostics);
            Checked {
                stack: None,
                diagnostics,
            }
        }
    }
}

/// Removes the value at a JSON pointer from the document; inside an array, the array.
fn prune(table: &mut DeTable<'_>, pointer: &str) {
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut current = table;
    for (index, segment) in segments.iter().enumerate() {
        let Some(key) = current
            .keys()
            .find(|k| k.get_ref().as_ref() == segment.as_str())
            .cloned()
        else {
            return;
        };
        let last = index + 1 == segments.len();
        let descend = !last
            && matches!(
                current.get(&key).map(|v| v.get_ref()),
                Some(DeValue::Table(_))
            );
        if !descend {
            current.remove(&key);
            return;
        }
        match current.get_mut(&key).map(|v| v.get_mut()) {
            Some(DeValue::Table(inner)) => current = inner,
            _ => return,
        }
    }
}

fn sort(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| {
        (a.span.start, a.span.end, &a.message).cmp(&(b.span.start, b.span.end, &b.message))
    });
    diagnostics.dedup();
}
