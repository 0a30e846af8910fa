use dimflow::prelude::*;

dims! { Batch; Hidden = 128; Hidden = 64; }

fn main() {}
