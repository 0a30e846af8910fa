use dimflow::prelude::*;

dims! { Batch; H = 8; W = 8; C = 6; F = 9; Classes = 10; }

model! {
    /// Sizes from `dims!` (unseen by the macro): 6 channels and 9 filters in 2 groups.
    pub struct Groups: [Batch, H, W, C] -> [Batch, Classes] {
        Conv2D(F, kernel = 3, groups = 2), Flatten, Dense(Classes)
    }
}

fn main() {}
