use dimflow::prelude::*;

dims! { Batch; H = 28; W = 28; C = 1; Classes = 10; }

model! {
    /// 26 rows after the first convolution; a 3-cell window with stride 2 covers 25 of them.
    pub struct Untiled: [Batch, H, W, C] -> [Batch, Classes] {
        Conv2D(F = 8, kernel = 3, out = [H1 = 26, W1 = 26]),
        Conv2D(G = 8, kernel = (3, 2), strides = 2, exact = true),
        Flatten, Dense(Classes)
    }
}

fn main() {}
