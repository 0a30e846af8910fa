use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// `skip` is computed but never used.
    pub struct Net(x: [Batch, Pixels]) -> (out: [Batch, Classes]) {
        let skip = x >> Dense(Classes);
        out = x >> Dense(Hidden) >> Relu >> Dense(Classes);
    }
}

fn main() {}
