use dimflow::prelude::*;

dims! { Batch; H = 28; W = 28; C = 1; Classes = 10; }

model! {
    /// A misspelt convolution option: the message lists the valid ones.
    pub struct Cnn: [Batch, H, W, C] -> [Batch, Classes] {
        Conv2D(F = 8, kernel = 3, kernel_constraints = MaxNorm(2.0)), Flatten, Dense(Classes)
    }
}

fn main() {}
