use dimflow::prelude::*;

dims! { Batch; Seq; Feat = 8; Classes = 10; }

model! {
    /// `Seq` is sized at run time: flattening it would give a dense layer a run-time width.
    pub struct PerSequence: [Batch, Seq, Feat] -> [Batch, Classes] {
        Flatten, Dense(Classes)
    }
}

fn main() {}
