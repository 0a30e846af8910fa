use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Hidden = 128; Classes = 10; }

model! {
    /// An initializer that does not exist.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden, initializer = HeNormel), Dense(Classes)
    }
}

fn main() {}
