use dimflow::prelude::*;

dims! { Batch; H = 8; W = 8; C = 3; Classes = 10; }

model! {
    /// Two branches of the same height and width but 16 and 32 channels cannot be added.
    pub struct Mismatch(x: [Batch, H, W, C]) -> (y: [Batch, Classes]) {
        let a = x >> Conv2D(F16 = 16, kernel = 3, padding = Same, out = [H, W]);
        let b = x >> Conv2D(F32 = 32, kernel = 3, padding = Same, out = [H, W]);
        y = add(a, b) >> GlobalAvgPool2D >> Dense(Classes);
    }
}

fn main() {}
