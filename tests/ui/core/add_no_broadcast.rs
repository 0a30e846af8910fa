use dimflow::prelude::*;

dims! { Batch; Hidden = 128; Classes = 10; }

fn main() {
    let a = Tensor::<(Batch, Hidden)>::zeros(&[32]);
    let b = Tensor::<(Batch, Classes)>::zeros(&[32]);
    let _c = &a + &b;
}
