use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// `hiden` is a typo of `hidden`.
    pub struct Net(x: [Batch, Pixels]) -> (out: [Batch, Classes]) {
        let hidden = x >> Dense(Hidden) >> Relu;
        out = hiden >> Dense(Classes);
    }
}

fn main() {}
