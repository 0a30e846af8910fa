use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Hidden = 128; Classes = 10; }

model! {
    /// A misspelt option: the message lists the valid ones.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden, kernel_regulariser = L2(0.01)), Dense(Classes)
    }
}

fn main() {}
