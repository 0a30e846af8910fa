use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// Adding `[Batch, H1]` to `[Batch, H2]`.
    pub struct Net(x: [Batch, Pixels]) -> (out: [Batch, Classes]) {
        let a = x >> Dense(H1 = 64);
        let b = x >> Dense(H2 = 32);
        out = add(a, b) >> Dense(Classes);
    }
}

fn main() {}
