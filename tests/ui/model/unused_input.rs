use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// `wide` is declared but never used.
    pub struct Deep(wide: [Batch, Crossed], deep: [Batch, Numeric]) -> (out: [Batch, One]) {
        out = deep >> Dense(H1 = 64) >> Relu >> Dense(One);
    }
}

fn main() {}
