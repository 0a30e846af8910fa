use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Hidden = 128; Classes = 10; }

fn main() {
    let x = Tensor::<(Batch, Pixels)>::zeros(&[32]);
    let w = Tensor::<(Hidden, Classes)>::zeros(&[]);
    let _y = x.matmul(&w);
}
