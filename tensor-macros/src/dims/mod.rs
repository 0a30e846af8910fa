//! `dims!`: parse → check → expand.

pub mod check;
pub mod expand;
pub mod parse;
