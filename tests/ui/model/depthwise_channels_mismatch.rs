use dimflow::prelude::*;

dims! { Batch; H = 28; W = 28; C = 1; Classes = 10; }

model! {
    /// A depthwise convolution with multiplier 2 over 32 channels makes 64, not 60.
    pub struct Depthwise: [Batch, H, W, C] -> [Batch, Classes] {
        Conv2D(F = 32, kernel = 3),
        DepthwiseConv2D(C2 = 60, kernel = 3, depth_multiplier = 2),
        Flatten, Dense(Classes)
    }
}

fn main() {}
