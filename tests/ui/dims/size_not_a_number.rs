use dimflow::prelude::*;

dims! { Batch; Hidden = big; }

fn main() {}
