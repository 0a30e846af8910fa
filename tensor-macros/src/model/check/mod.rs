//! Shape inference and validation of `model!`: pure functions from the syntax tree to a checked
//! [`ir::Graph`], reporting every problem found (not only the first) to the error collector.

mod apply;
mod build;
mod conv;
mod conv_args;
mod dense;
pub mod ir;
mod layers;
mod merge;
mod normalise;
mod report;
mod reshape;
mod user;

pub use build::check;
