use dimflow::prelude::*;

dims! { Batch; H = 8; W = 8; C = 1; Classes = 10; }

model! {
    /// 6 channels cannot be split into 4 groups (8 filters can).
    pub struct Groups: [Batch, H, W, C] -> [Batch, Classes] {
        Conv2D(C1 = 6, kernel = 3),
        Conv2D(F = 8, kernel = 3, groups = 4),
        Flatten, Dense(Classes)
    }
}

fn main() {}
