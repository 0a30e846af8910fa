use dimflow::prelude::*;

dims! { Batch; H = 28; W = 28; Pixels = 784; Hidden = 128; }

fn main() {
    let t = Tensor::<(Batch, H, W)>::zeros(&[4]);
    let _ok = t.reshape::<(Batch, Pixels)>();
    let _bad = t.reshape::<(Batch, Hidden)>();
}
