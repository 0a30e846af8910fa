//! Layout: the run-time lengths, strides and offset of a tensor view into its storage.

use smallvec::SmallVec;

/// Inline storage for up to six lengths or strides.
pub type Dims = SmallVec<[usize; 6]>;

/// Lengths, element strides and offset of a (possibly strided) view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    dims: Dims,
    strides: Dims,
    offset: usize,
}

impl Layout {
    /// A contiguous row-major layout of the given lengths.
    pub fn contiguous(dims: &[usize]) -> Self {
        Layout {
            dims: Dims::from_slice(dims),
            strides: contiguous_strides(dims),
            offset: 0,
        }
    }

    /// A layout with explicit strides and offset.
    pub fn strided(dims: Dims, strides: Dims, offset: usize) -> Self {
        debug_assert_eq!(dims.len(), strides.len());
        Layout {
            dims,
            strides,
            offset,
        }
    }

    /// The lengths, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The element strides, outermost first.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Offset of the first element in the storage.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether the view is row-major contiguous (size-1 dims may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&d, &s) in self.dims.iter().zip(&self.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// Storage index of every element in row-major order of the view.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.numel();
        let rank = self.dims.len();
        let mut idx: Dims = smallvec::smallvec![0; rank];
        let mut pos = self.offset;
        (0..n).map(move |i| {
            if i > 0 {
                // advance the multi-index like an odometer
                let mut ax = rank;
                while ax > 0 {
                    ax -= 1;
                    idx[ax] += 1;
                    pos += self.strides[ax];
                    if idx[ax] < self.dims[ax] {
                        break;
                    }
                    pos -= self.strides[ax] * self.dims[ax];
                    idx[ax] = 0;
                }
            }
            pos
        })
    }

    /// The layout with its axes reordered: axis `i` of the result is axis `perm[i]` of `self`.
    pub fn permuted(&self, perm: &[usize]) -> Self {
        Layout {
            dims: perm.iter().map(|&p| self.dims[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    /// The layout narrowed to `start..start+len` along `axis`.
    pub fn narrowed(&self, axis: usize, start: usize, len: usize) -> Self {
        let mut l = self.clone();
        l.offset += start * self.strides[axis];
        l.dims[axis] = len;
        l
    }
}

/// Row-major strides for the given lengths.
pub fn contiguous_strides(dims: &[usize]) -> Dims {
    let mut strides: Dims = smallvec::smallvec![0; dims.len()];
    let mut acc = 1;
    for i in (0..dims.len()).rev() {
        strides[i] = acc;
        acc *= dims[i];
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_and_indices_of_a_transpose() {
        let l = Layout::contiguous(&[2, 3]);
        assert_eq!(l.strides(), &[3, 1]);
        let t = l.permuted(&[1, 0]);
        assert!(!t.is_contiguous());
        // element (i, j) of the transpose is (j, i) of the source: index j*3 + i
        assert_eq!(t.indices().collect::<Vec<_>>(), vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn narrowed_view_offsets() {
        let l = Layout::contiguous(&[4, 5]).narrowed(1, 2, 2);
        assert_eq!(l.indices().collect::<Vec<_>>(), vec![2, 3, 7, 8, 12, 13, 17, 18]);
    }
}
