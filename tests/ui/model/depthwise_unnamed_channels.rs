use dimflow::prelude::*;

dims! { Batch; H = 28; W = 28; C = 3; Classes = 10; }

model! {
    /// With `depth_multiplier = 4` the output channels need a name.
    pub struct Depthwise: [Batch, H, W, C] -> [Batch, Classes] {
        DepthwiseConv2D(kernel = 3, depth_multiplier = 4), Flatten, Dense(Classes)
    }
}

fn main() {}
