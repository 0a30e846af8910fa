use dimflow::prelude::*;

dims! { Batch; H = 8; W = 8; C = 3; Classes = 10; }

model! {
    /// A convolution defined once and applied to two tensors would need one kernel and two
    /// im2col buffers: not supported, so it is an error rather than two silent copies.
    pub struct Shared(x: [Batch, H, W, C], z: [Batch, H, W, C]) -> (y: [Batch, Classes]) {
        let conv = Conv2D(F = 4, kernel = 3, padding = Same, out = [H, W]);
        let a = x >> conv;
        let b = z >> conv;
        y = add(a, b) >> GlobalAvgPool2D >> Dense(Classes);
    }
}

fn main() {}
