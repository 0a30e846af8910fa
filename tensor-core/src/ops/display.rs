//! `Display` and `Debug` like NumPy's: the dims with names and sizes, values elided for large
//! tensors (the first and last 3 entries of each dim past 1000 elements).

use core::fmt;

use crate::element::Element;
use crate::shape::Shape;
use crate::tensor::{describe_shape, Tensor};

const THRESHOLD: usize = 1000;
const EDGE: usize = 3;

fn write_block<E: Element>(
    f: &mut fmt::Formatter<'_>,
    t: &Tensor<impl Shape, E>,
    index: &mut Vec<usize>,
    elide: bool,
) -> fmt::Result {
    let axis = index.len();
    let dims = t.dims();
    if axis == dims.len() {
        return write!(f, "{}", t.get(index));
    }
    write!(f, "[")?;
    let n = dims[axis];
    let positions: Vec<Option<usize>> = if elide && n > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain([None])
            .chain((n - EDGE..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    };
    for (k, p) in positions.iter().enumerate() {
        if k > 0 {
            write!(f, ",")?;
            if axis + 1 < dims.len() {
                write!(f, "\n{:indent$}", "", indent = axis + 1)?;
            } else {
                write!(f, " ")?;
            }
        }
        match p {
            Some(i) => {
                index.push(*i);
                write_block(f, t, index, elide)?;
                index.pop();
            }
            None => write!(f, "...")?,
        }
    }
    write!(f, "]")
}

impl<S: Shape, E: Element> fmt::Display for Tensor<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_block(f, self, &mut Vec::new(), self.numel() > THRESHOLD)
    }
}

impl<S: Shape, E: Element> fmt::Debug for Tensor<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Tensor{} {}", describe_shape(S::NAMES, self.dims()), E::DTYPE)?;
        fmt::Display::fmt(self, f)
    }
}
