use dimflow::prelude::*;

dims! { Batch; Seq; Vocab = 1000; Hidden = 128; Classes = 10; }

model! {
    /// An embedding after a dense layer, and an id input read by a dense layer.
    pub struct Net(tokens: [Batch, Seq, Vocab], ids: [Batch, Seq]) -> (a: [Batch, Seq, Classes], b: [Batch, Seq, E]) {
        a = tokens >> Dense(Hidden) >> Embedding(Vocab, E = 16) >> Dense(Classes);
        let e = ids >> Embedding(Vocab, E);
        b = add(e, ids >> Dense(E));
    }
}

fn main() {}
