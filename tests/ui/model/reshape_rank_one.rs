use dimflow::prelude::*;

dims! { Pixels = 784; Classes = 10; }

model! {
    /// A rank-1 tensor has no dims to flatten after the first.
    pub struct Single: [Pixels] -> [Classes] {
        Flatten, Dense(Classes)
    }
}

fn main() {}
