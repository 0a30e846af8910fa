use dimflow::prelude::*;

dims! { Batch Hidden = 128; }

fn main() {}
