use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Hidden = 128; Classes = 10; }

model! {
    /// A block mapping `Pixels` to `Pixels`.
    pub struct Block: [Batch, Pixels] -> [Batch, Pixels] {
        Dense(Hidden), Relu, Dense(Pixels)
    }
}

model! {
    /// One block applied twice: it keeps the buffers of one application.
    pub struct Outer(x: [Batch, Pixels]) -> (y: [Batch, Classes]) {
        let block = Block(Pixels);
        y = x >> block >> block >> Dense(Classes);
    }
}

fn main() {}
