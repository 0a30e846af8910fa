//! Keras' `class_weight`: one weight per sample from one weight per class.

use crate::data::Rows;
use crate::error::{NnError, Result};

/// One weight per sample of `y` from the per-class weights `cw`.
pub(super) fn class_weights<Y: Rows>(cw: &[f32], y: &Y) -> Result<Vec<f32>> {
    let rows = y.num_rows().max(1);
    let values = y.values();
    let width = values.len() / rows;
    values
        .chunks(width.max(1))
        .map(|row| {
            let class = if row.len() == 1 {
                row[0]
            } else {
                row.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0.0, |(i, _)| i as f32)
            };
            let ok = class >= 0.0 && class.fract() == 0.0 && (class as usize) < cw.len();
            if ok {
                Ok(cw[class as usize])
            } else {
                Err(NnError::invalid(
                    "fit",
                    format!(
                        "class_weight has {} entries but a target is class {class}",
                        cw.len()
                    ),
                ))
            }
        })
        .collect()
}
