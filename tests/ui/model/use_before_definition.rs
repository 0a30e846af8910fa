use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// `h` is used on the line before its `let`.
    pub struct Net(x: [Batch, Pixels]) -> (out: [Batch, Classes]) {
        out = h >> Dense(Classes);
        let h = x >> Dense(Hidden) >> Relu;
    }
}

fn main() {}
