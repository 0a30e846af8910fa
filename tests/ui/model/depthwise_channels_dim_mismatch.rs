use dimflow::prelude::*;

dims! { Batch; H = 28; W = 28; C = 3; C2 = 8; Classes = 10; }

model! {
    /// `C2` (from `dims!`) is 8, but multiplier 2 over `C` (3) channels makes 6.
    pub struct Depthwise: [Batch, H, W, C] -> [Batch, Classes] {
        DepthwiseConv2D(C2, kernel = 3, depth_multiplier = 2), Flatten, Dense(Classes)
    }
}

fn main() {}
