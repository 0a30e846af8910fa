use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// `aux` is declared but never assigned.
    pub struct Net(x: [Batch, Pixels]) -> (out: [Batch, Classes], aux: [Batch, One]) {
        out = x >> Dense(Classes);
    }
}

fn main() {}
