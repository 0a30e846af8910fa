use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Code = 16; Classes = 10; }

/// A type that is not a layer.
#[derive(Debug, Clone)]
pub struct Widget<F>(F);

model! {
    /// Uses `Widget` as a layer.
    pub struct Outer: [Batch, Pixels] -> [Batch, Classes] {
        Widget(Code), Dense(Classes)
    }
}

fn main() {}
