use dimflow::prelude::*;

dims! { Batch; Empty = 0; Hidden = 128; }

fn main() {
    let _ = uses_the_dims;
}

fn uses_the_dims(_: Tensor<(Batch, Empty, Hidden)>) {}
