use dimflow::prelude::*;

dims! { Batch; H = 28; W = 28; C = 1; Half = 13; Classes = 10; }

model! {
    /// Max pooling by 2 of 28 rows makes 14, but `Half` (from `dims!`) is 13.
    pub struct WrongDim: [Batch, H, W, C] -> [Batch, Classes] {
        MaxPool2D(2, out = [Half, Half]), Flatten, Dense(Classes)
    }
}

fn main() {}
