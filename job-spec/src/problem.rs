//! Validation problems: every problem at once, each with a JSON path and a stable code.
//!
//! Codes are kebab-case and part of the public contract (clients branch on them);
//! messages are for humans and may change.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One thing wrong with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    /// JSON path of the offending field, e.g. `images[2].duracao`; empty for the body.
    pub field: String,
    /// Stable kebab-case code, e.g. `out-of-range`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// Collects problems while walking a request; `at` builds child paths.
#[derive(Debug, Default)]
pub struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.list.push(Problem { field: field.into(), code: code.to_owned(), message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.list
    }

    /// `Ok(())` when nothing was found, else every problem.
    pub fn finish(self) -> Result<(), Vec<Problem>> {
        if self.list.is_empty() { Ok(()) } else { Err(self.list) }
    }

    /// Checks `lo <= v <= hi`, pushing `out-of-range` otherwise (NaN is out of range).
    pub fn range_f64(&mut self, field: &str, v: f64, lo: f64, hi: f64) {
        if !(v >= lo && v <= hi) {
            self.push(field, "out-of-range", format!("must be between {lo} and {hi}, got {v}"));
        }
    }

    pub fn range_u32(&mut self, field: &str, v: u32, lo: u32, hi: u32) {
        if !(lo..=hi).contains(&v) {
            self.push(field, "out-of-range", format!("must be between {lo} and {hi}, got {v}"));
        }
    }
}

/// `parent.child` (or `child` at the root).
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() { child.to_owned() } else { format!("{parent}.{child}") }
}

/// `parent[i]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}
