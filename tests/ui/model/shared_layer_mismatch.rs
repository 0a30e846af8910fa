use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// A shared layer built for `Pixels` applied to `Numeric`.
    pub struct Net(a: [Batch, Pixels], b: [Batch, Numeric]) -> (out: [Batch, Classes]) {
        let tower = Dense(Hidden);
        let ha = a >> tower;
        let hb = b >> tower;
        out = add(ha, hb) >> Dense(Classes);
    }
}

fn main() {}
