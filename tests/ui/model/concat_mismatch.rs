use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// Concatenating tensors whose leading dims differ.
    pub struct Net(x: [Batch, Pixels], s: [Seq, Numeric]) -> (out: [Batch, Classes]) {
        let both = concat(x, s);
        out = both >> Dense(Classes);
    }
}

fn main() {}
