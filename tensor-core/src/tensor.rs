//! `Tensor<S, E>`: an immutable, typed view over shared aligned storage.

use core::marker::PhantomData;
use std::sync::Arc;

use crate::autodiff::NodeId;
use crate::element::Element;
use crate::error::{Result, TensorError};
use crate::layout::{Dims, Layout};
use crate::shape::{runtime_rank, HasDim, Shape};
use crate::storage::{buffer_from_iter, Buffer, Storage};

/// A tensor whose shape `S` is a tuple of named dimensions, with elements of type `E`.
///
/// Storage is row-major and 64-byte aligned; views (permute, slice) share it without copying.
/// Cloning is cheap (a reference count).
pub struct Tensor<S: Shape, E: Element = f32> {
    pub(crate) storage: Storage<E>,
    pub(crate) layout: Layout,
    /// The tape node that produced this value, when it was recorded by a gradient tape
    /// (a `Copy` id: untracked tensors carry `None` and cost nothing).
    pub(crate) node: Option<NodeId>,
    pub(crate) _shape: PhantomData<S>,
}

impl<S: Shape, E: Element> Clone for Tensor<S, E> {
    fn clone(&self) -> Self {
        Tensor {
            storage: Arc::clone(&self.storage),
            layout: self.layout.clone(),
            node: self.node,
            _shape: PhantomData,
        }
    }
}

/// Shape written with names and sizes, e.g. `[Batch=32, Pixels=784]`.
pub(crate) fn describe_shape(names: &[&str], dims: &[usize]) -> String {
    let parts: Vec<String> = names.iter().zip(dims).map(|(n, d)| format!("{n}={d}")).collect();
    format!("[{}]", parts.join(", "))
}

/// Shape written with names and static sizes (`?` for run-time ones).
pub(crate) fn describe_static<S: Shape>() -> String {
    let parts: Vec<String> = S::NAMES
        .iter()
        .zip(S::STATIC)
        .map(|(n, s)| match s {
            Some(v) => format!("{n}={v}"),
            None => format!("{n}=?"),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The most elements of type `E` one buffer can hold (`isize::MAX` bytes).
pub(crate) const fn max_elements<E>() -> usize {
    let bytes = core::mem::size_of::<E>();
    let bytes = if bytes == 0 { 1 } else { bytes };
    isize::MAX as usize / bytes
}

/// The element count of a tensor of elements `E` with lengths `dims` (named `names`), or
/// [`TensorError::TooLarge`] when the product overflows or one buffer cannot hold it.
pub(crate) fn checked_numel<E>(op: &'static str, names: &[&str], dims: &[usize]) -> Result<usize> {
    let max = max_elements::<E>();
    dims.iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= max)
        .ok_or_else(|| TensorError::TooLarge {
            op,
            shape: describe_shape(names, dims),
            max,
            bytes: core::mem::size_of::<E>(),
        })
}

/// Full lengths of `S` from the run-time sizes given in order for its run-time dims, checked
/// to be non-zero and to hold at most [`max_elements`] elements of type `E`.
pub(crate) fn resolve_dims<S: Shape, E>(op: &'static str, runtime: &[usize]) -> Result<Dims> {
    let expected = runtime_rank(S::STATIC);
    if runtime.len() != expected {
        return Err(TensorError::RuntimeSizes {
            op,
            shape: describe_static::<S>(),
            expected,
            got: runtime.len(),
        });
    }
    let mut it = runtime.iter();
    let mut dims = Dims::new();
    for (i, s) in S::STATIC.iter().enumerate() {
        let len = match s {
            Some(v) => *v,
            None => *it.next().unwrap_or(&0),
        };
        if len == 0 {
            return Err(TensorError::BadLength {
                op,
                dim: S::NAMES[i],
                len,
                reason: String::new(),
            });
        }
        dims.push(len);
    }
    checked_numel::<E>(op, S::NAMES, &dims)?;
    Ok(dims)
}

/// Checks full lengths against the static sizes of `S`; returns the element count, checked
/// as by [`checked_numel`].
pub(crate) fn check_dims<S: Shape, E>(op: &'static str, dims: &[usize]) -> Result<usize> {
    if dims.len() != S::RANK {
        return Err(TensorError::RuntimeSizes {
            op,
            shape: describe_static::<S>(),
            expected: S::RANK,
            got: dims.len(),
        });
    }
    for (i, (&len, s)) in dims.iter().zip(S::STATIC).enumerate() {
        if len == 0 {
            return Err(TensorError::BadLength {
                op,
                dim: S::NAMES[i],
                len,
                reason: String::new(),
            });
        }
        if let Some(v) = s {
            if *v != len {
                return Err(TensorError::BadLength {
                    op,
                    dim: S::NAMES[i],
                    len,
                    reason: format!(", its static size is {v}"),
                });
            }
        }
    }
    checked_numel::<E>(op, S::NAMES, dims)
}

impl<S: Shape, E: Element> Tensor<S, E> {
    /// Wraps a buffer of exactly `numel(dims)` elements (checked by callers in this crate).
    pub(crate) fn from_buffer(buf: Buffer<E>, dims: &[usize]) -> Self {
        debug_assert_eq!(buf.len(), dims.iter().product::<usize>());
        Tensor {
            storage: Arc::new(buf),
            layout: Layout::contiguous(dims),
            node: None,
            _shape: PhantomData,
        }
    }

    /// A new tensor sharing this one's storage under another layout and shape type.
    pub(crate) fn view_as<S2: Shape>(&self, layout: Layout) -> Tensor<S2, E> {
        Tensor {
            storage: Arc::clone(&self.storage),
            layout,
            node: None,
            _shape: PhantomData,
        }
    }

    /// Builds a tensor from row-major data; `runtime` gives the lengths of the run-time dims in
    /// order (empty for a fully static shape).
    ///
    /// # Errors
    /// [`TensorError::DataLength`] when `data` has the wrong length, [`TensorError::RuntimeSizes`]
    /// when `runtime` does not give one length per run-time dim, [`TensorError::BadLength`] for a zero length,
    /// [`TensorError::TooLarge`] when the product of the lengths overflows (or exceeds what one
    /// buffer can hold).
    ///
    /// ```
    /// use tensor_core::prelude::*;
    /// tensor_macros::dims! { crate = ::tensor_core; Batch; Features = 3; }
    /// let t = Tensor::<(Batch, Features)>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[2]).unwrap();
    /// assert_eq!(t.dims(), &[2, 3]);
    /// assert!(Tensor::<(Batch, Features)>::from_vec(vec![1., 2.], &[2]).is_err());
    /// ```
    pub fn from_vec(data: Vec<E>, runtime: &[usize]) -> Result<Self> {
        let dims = resolve_dims::<S, E>("from_vec", runtime)?;
        Self::from_vec_dims(data, &dims)
    }

    /// Builds a tensor from row-major data and the full list of lengths (static ones included).
    ///
    /// # Errors
    /// As [`Tensor::from_vec`], and when a static dim is given another length.
    pub fn from_vec_dims(data: Vec<E>, dims: &[usize]) -> Result<Self> {
        Self::from_pieces_op("from_vec", [data.as_slice()], dims)
    }

    /// Builds a tensor from row-major data given as consecutive pieces (rows gathered from
    /// elsewhere, say) and the full list of lengths, copying each piece once into the aligned
    /// buffer.
    ///
    /// # Errors
    /// As [`Tensor::from_vec_dims`] when the pieces do not hold `dims`' element count together.
    ///
    /// ```
    /// use tensor_core::prelude::*;
    /// tensor_macros::dims! { crate = ::tensor_core; Batch; Features = 2; }
    /// let rows = [[1., 2.], [3., 4.], [5., 6.]];
    /// let t = Tensor::<(Batch, Features)>::from_pieces_dims([&rows[2][..], &rows[0][..]], &[2, 2]).unwrap();
    /// assert_eq!(t.to_vec(), vec![5., 6., 1., 2.]);
    /// ```
    pub fn from_pieces_dims<'a, I>(pieces: I, dims: &[usize]) -> Result<Self>
    where
        E: 'a,
        I: IntoIterator<Item = &'a [E]>,
        I::IntoIter: Clone,
    {
        Self::from_pieces_op("from_pieces", pieces, dims)
    }

    /// [`Tensor::from_pieces_dims`] with the op name its errors carry. The lengths are checked
    /// before anything is allocated.
    fn from_pieces_op<'a, I>(op: &'static str, pieces: I, dims: &[usize]) -> Result<Self>
    where
        E: 'a,
        I: IntoIterator<Item = &'a [E]>,
        I::IntoIter: Clone,
    {
        let expected = check_dims::<S, E>(op, dims)?;
        let pieces = pieces.into_iter();
        // a sum past `usize::MAX` is no valid length either: saturating keeps it unequal
        let got = pieces.clone().map(<[E]>::len).fold(0usize, usize::saturating_add);
        if got != expected {
            return Err(TensorError::DataLength {
                op,
                shape: describe_shape(S::NAMES, dims),
                expected,
                got,
            });
        }
        let mut buf = Buffer::<E>::with_capacity(64, expected);
        for piece in pieces {
            buf.extend_from_slice(piece);
        }
        Ok(Self::from_buffer(buf, dims))
    }

    /// The elements as a mutable slice, when this tensor is the only owner of its whole,
    /// contiguous storage (no views or clones share it); `None` otherwise. Writing through it
    /// changes only this tensor, so buffers can be refilled in place without allocating.
    ///
    /// ```
    /// use tensor_core::prelude::*;
    /// tensor_macros::dims! { crate = ::tensor_core; Features = 3; }
    /// let mut t = Tensor::<(Features,)>::zeros(&[]);
    /// t.as_mut_slice().unwrap().copy_from_slice(&[1., 2., 3.]);
    /// assert_eq!(t.to_vec(), vec![1., 2., 3.]);
    /// let shared = t.clone();
    /// assert!(t.as_mut_slice().is_none()); // `shared` still reads the same storage
    /// drop(shared);
    /// assert!(t.as_mut_slice().is_some());
    /// ```
    pub fn as_mut_slice(&mut self) -> Option<&mut [E]> {
        let n = self.numel();
        if !self.is_contiguous() || self.layout.offset() != 0 || self.storage.len() != n {
            return None;
        }
        std::sync::Arc::get_mut(&mut self.storage).map(|b| &mut b[..])
    }

    /// A tensor of the given lengths filled with `value`.
    ///
    /// # Errors
    /// As [`Tensor::from_vec`] for the run-time sizes (a zero length, lengths whose product
    /// overflows).
    pub fn try_full(value: E, runtime: &[usize]) -> Result<Self> {
        let dims = resolve_dims::<S, E>("full", runtime)?;
        let n = dims.iter().product();
        Ok(Self::from_buffer(crate::storage::buffer_filled(n, value), &dims))
    }

    /// A tensor filled with `value`.
    ///
    /// # Panics
    /// When `runtime` does not give one non-zero length per run-time dim, or the lengths'
    /// product overflows.
    pub fn full(value: E, runtime: &[usize]) -> Self {
        Self::try_full(value, runtime).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A tensor whose element at multi-index `idx` is `f(idx)`.
    ///
    /// # Errors
    /// As [`Tensor::from_vec`] for the run-time sizes (a zero length, lengths whose product
    /// overflows).
    pub fn try_from_fn(runtime: &[usize], mut f: impl FnMut(&[usize]) -> E) -> Result<Self> {
        let dims = resolve_dims::<S, E>("from_fn", runtime)?;
        let n: usize = dims.iter().product();
        let mut idx: Dims = smallvec::smallvec![0; dims.len()];
        let buf = buffer_from_iter((0..n).map(|i| {
            if i > 0 {
                let mut ax = dims.len();
                while ax > 0 {
                    ax -= 1;
                    idx[ax] += 1;
                    if idx[ax] < dims[ax] {
                        break;
                    }
                    idx[ax] = 0;
                }
            }
            f(&idx)
        }));
        Ok(Self::from_buffer(buf, &dims))
    }

    /// A tensor whose element at multi-index `idx` is `f(idx)`.
    ///
    /// # Panics
    /// When `runtime` does not give one non-zero length per run-time dim, or the lengths'
    /// product overflows.
    pub fn from_fn(runtime: &[usize], f: impl FnMut(&[usize]) -> E) -> Self {
        Self::try_from_fn(runtime, f).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The run-time lengths of every dimension, outermost first.
    pub fn dims(&self) -> &[usize] {
        self.layout.dims()
    }

    /// The layout (lengths, strides, offset) of this view.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Length of dimension `D`: `t.len_of::<Batch, _>()`.
    pub fn len_of<D, Idx>(&self) -> usize
    where
        S: HasDim<D, Idx>,
    {
        self.dims()[<S as HasDim<D, Idx>>::INDEX]
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// Whether the view is row-major contiguous.
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// The elements as a slice when the view is contiguous.
    pub fn as_slice(&self) -> Option<&[E]> {
        if self.is_contiguous() {
            let o = self.layout.offset();
            Some(&self.storage[o..o + self.numel()])
        } else {
            None
        }
    }

    /// The elements in row-major order of this view.
    pub fn to_vec(&self) -> Vec<E> {
        match self.as_slice() {
            Some(s) => s.to_vec(),
            None => self.layout.indices().map(|i| self.storage[i]).collect(),
        }
    }

    /// A contiguous tensor with the same values (shares storage when already contiguous).
    /// On a gradient tape the copy stays the same value: its gradient flows to `self`.
    pub fn contiguous(&self) -> Self {
        if self.is_contiguous() && self.layout.offset() == 0 && self.storage.len() == self.numel() {
            return self.clone();
        }
        let buf = match self.as_slice() {
            Some(s) => crate::storage::buffer_from_slice(s),
            None => buffer_from_iter(self.layout.indices().map(|i| self.storage[i])),
        };
        let mut out = Self::from_buffer(buf, self.dims());
        out.node = self.node;
        out
    }

    /// The element at a full multi-index.
    ///
    /// # Errors
    /// [`TensorError::IndexOutOfRange`] when an index is out of range, or the index has the wrong rank.
    pub fn try_get(&self, index: &[usize]) -> Result<E> {
        if index.len() != S::RANK {
            return Err(TensorError::RuntimeSizes {
                op: "get",
                shape: describe_static::<S>(),
                expected: S::RANK,
                got: index.len(),
            });
        }
        let mut pos = Some(self.layout.offset());
        for (ax, (&i, (&len, &st))) in index
            .iter()
            .zip(self.dims().iter().zip(self.layout.strides()))
            .enumerate()
        {
            if i >= len {
                return Err(TensorError::IndexOutOfRange {
                    op: "get",
                    dim: S::NAMES[ax],
                    index: i64::try_from(i).unwrap_or(i64::MAX),
                    len,
                });
            }
            pos = pos.and_then(|p| p.checked_add(i.checked_mul(st)?));
        }
        // every in-range index of a tensor built by this crate lies in its storage; a view
        // that does not is reported rather than read out of bounds
        pos.and_then(|p| self.storage.get(p).copied())
            .ok_or_else(|| TensorError::TooLarge {
                op: "get",
                shape: describe_shape(S::NAMES, self.dims()),
                max: self.storage.len(),
                bytes: core::mem::size_of::<E>(),
            })
    }

    /// The element at a full multi-index.
    ///
    /// # Panics
    /// When an index is out of range; the message names the dimension.
    pub fn get(&self, index: &[usize]) -> E {
        self.try_get(index).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Applies `f` to every element.
    pub fn map<E2: Element>(&self, f: impl Fn(E) -> E2) -> Tensor<S, E2> {
        let buf = match self.as_slice() {
            Some(s) => buffer_from_iter(s.iter().map(|&x| f(x))),
            None => buffer_from_iter(self.layout.indices().map(|i| f(self.storage[i]))),
        };
        Tensor::from_buffer(buf, self.dims())
    }

    /// The same data under another element type by `as`-style conversion.
    pub fn cast<E2: Element + num_traits::NumCast>(&self) -> Tensor<S, E2>
    where
        E: num_traits::NumCast,
    {
        self.map(|x| num_traits::cast::<E, E2>(x).unwrap_or_default())
    }
}

impl<E: Element> Tensor<(), E> {
    /// A rank-0 tensor holding one value.
    pub fn scalar(value: E) -> Self {
        Self::from_buffer(buffer_from_iter([value]), &[])
    }

    /// The value of a rank-0 tensor.
    pub fn item(&self) -> E {
        self.storage[self.layout.offset()]
    }
}
