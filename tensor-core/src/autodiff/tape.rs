//! The gradient tape: a thread-local record of the differentiable ops run on tracked values.
//!
//! While a [`GradientTape`] is alive (and not paused) on a thread, every differentiable op
//! whose inputs include a tracked tensor appends one [`Node`]: the ids of its inputs and its
//! backward rule (a boxed closure holding what the rule needs). When no tape is recording,
//! ops read one thread-local flag and do nothing else: no allocation, no node.

use core::any::Any;
use core::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use smallvec::SmallVec;

use super::gradients::Gradients;
use crate::element::{Element, Float};
use crate::error::{Result, TensorError};
use crate::layout::Dims;
use crate::shape::Shape;
use crate::tensor::{describe_shape, Tensor};

/// Identifies the node of a recorded value: which tape, and which position on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId {
    pub(crate) tape: u32,
    pub(crate) index: u32,
}

/// A type-erased gradient: always a contiguous `Tensor<S, E>` of the node's own type.
pub(crate) type AnyGrad = Box<dyn Any>;

/// The gradients a node's backward rule sends to its inputs, in input order.
pub(crate) type ParentGrads = SmallVec<[Option<AnyGrad>; 2]>;

type Backward = Box<dyn Fn(&dyn Any) -> ParentGrads>;

/// One recorded op.
pub(crate) struct Node {
    /// Input nodes on this tape (`None`: an untracked input, which gets no gradient).
    pub(crate) parents: SmallVec<[Option<u32>; 2]>,
    /// The backward rule: from this node's gradient to its inputs' gradients.
    pub(crate) backward: Option<Backward>,
    /// Adds a gradient of this node's type into another (monomorphised per shape and element).
    pub(crate) accumulate: fn(&mut AnyGrad, AnyGrad),
    /// For watched values and variables: their lengths, so that an unconnected source gets zeros.
    pub(crate) kept_dims: Option<Dims>,
}

/// What a tape has recorded.
pub(crate) struct TapeData {
    pub(crate) id: u32,
    pub(crate) nodes: Vec<Node>,
    /// Variable id -> (node, variable version) of its latest read on this tape.
    pub(crate) variables: HashMap<u64, (u32, u64)>,
    pub(crate) persistent: bool,
    pub(crate) used: bool,
    pub(crate) paused: bool,
}

static NEXT_TAPE: AtomicU32 = AtomicU32::new(1);

thread_local! {
    /// The id of the tape recording on this thread, 0 when none records.
    static RECORDING: Cell<u32> = const { Cell::new(0) };
    static CURRENT: RefCell<Option<Rc<RefCell<TapeData>>>> = const { RefCell::new(None) };
}

/// Whether a tape is recording on this thread.
#[inline(always)]
pub(crate) fn is_recording() -> bool {
    RECORDING.with(Cell::get) != 0
}

impl<S: Shape, E: Element> Tensor<S, E> {
    /// Whether an op on this value must be recorded: a tape records on this thread and this
    /// value was recorded by it. The one check every op pays (a thread-local read, no allocation).
    #[inline(always)]
    pub(crate) fn on_tape(&self) -> bool {
        match self.node {
            Some(n) => RECORDING.with(Cell::get) == n.tape,
            None => false,
        }
    }
}

fn refresh_flag() {
    let id = CURRENT.with(|c| {
        c.borrow().as_ref().map_or(0, |t| {
            t.try_borrow()
                .map(|t| if t.paused || t.used { 0 } else { t.id })
                .unwrap_or(0)
        })
    });
    RECORDING.with(|r| r.set(id));
}

/// Runs `f` with recording switched off on this thread (backward rules run this way).
pub(crate) fn without_recording<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            RECORDING.with(|r| r.set(self.0));
        }
    }
    let _restore = Restore(RECORDING.with(|r| r.replace(0)));
    f()
}

/// Runs `f` on the current recording tape, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(&mut TapeData) -> R) -> Option<R> {
    if !is_recording() {
        return None;
    }
    CURRENT.with(|c| {
        let cur = c.borrow();
        let tape = cur.as_ref()?;
        let mut data = tape.try_borrow_mut().ok()?;
        Some(f(&mut data))
    })
}

/// Returns `Some(add)` for float element types: the only ones that carry gradients.
pub(crate) fn float_add<E: Element>() -> Option<fn(E, E) -> E> {
    fn add32(a: f32, b: f32) -> f32 {
        a + b
    }
    fn add64(a: f64, b: f64) -> f64 {
        a + b
    }
    let f32_add: fn(f32, f32) -> f32 = add32;
    let f64_add: fn(f64, f64) -> f64 = add64;
    (&f32_add as &dyn Any)
        .downcast_ref::<fn(E, E) -> E>()
        .or_else(|| (&f64_add as &dyn Any).downcast_ref::<fn(E, E) -> E>())
        .copied()
}

/// Adds the gradient `new` into `slot`; both are `Tensor<S, E>` (contiguous, same lengths).
pub(crate) fn accumulate<S: Shape, E: Element>(slot: &mut AnyGrad, new: AnyGrad) {
    let (Some(add), Some(acc), Ok(new)) = (
        float_add::<E>(),
        slot.downcast_mut::<Tensor<S, E>>(),
        new.downcast::<Tensor<S, E>>(),
    ) else {
        debug_assert!(false, "gradient of an unexpected type");
        return;
    };
    let mut a = acc.to_vec();
    let b = new.to_vec();
    for (x, y) in a.iter_mut().zip(&b) {
        *x = add(*x, *y);
    }
    *acc = Tensor::from_buffer(crate::storage::buffer_from_slice(&a), acc.dims());
}

/// Makes a gradient contiguous and erases its type.
pub(crate) fn erase<S: Shape, E: Element>(g: Tensor<S, E>) -> AnyGrad {
    let mut g = g.contiguous();
    g.node = None;
    Box::new(g)
}

/// The node of `t` on tape `id`, if `t` was recorded there.
fn parent_on<S: Shape, E: Element>(t: &Tensor<S, E>, id: u32) -> Option<u32> {
    t.node.filter(|n| n.tape == id).map(|n| n.index)
}

/// Appends a node with the given parents and backward rule and marks `out` with it. Does
/// nothing (returns `out` as is) when no tape records, `E` is not a float, or no parent is
/// tracked on the current tape.
pub(crate) fn push_node<S: Shape, E: Element>(
    mut out: Tensor<S, E>,
    parents: impl FnOnce(u32) -> SmallVec<[Option<u32>; 2]>,
    backward: impl FnOnce(&[bool]) -> Backward,
) -> Tensor<S, E> {
    if float_add::<E>().is_none() {
        return out;
    }
    let id = with_current(|tape| {
        let parents = parents(tape.id);
        if parents.iter().all(Option::is_none) {
            return None;
        }
        let needs: SmallVec<[bool; 2]> = parents.iter().map(Option::is_some).collect();
        let index = tape.nodes.len() as u32;
        tape.nodes.push(Node {
            backward: Some(backward(&needs)),
            parents,
            accumulate: accumulate::<S, E>,
            kept_dims: None,
        });
        Some(NodeId { tape: tape.id, index })
    })
    .flatten();
    if id.is_some() {
        out.node = id;
    }
    out
}

/// Records a one-input op: `back(grad_out)` is the gradient of its input.
pub(crate) fn record_unary<S1, S, E, F>(x: &Tensor<S1, E>, out: Tensor<S, E>, back: F) -> Tensor<S, E>
where
    S1: Shape,
    S: Shape,
    E: Element,
    F: Fn(&Tensor<S, E>) -> Tensor<S1, E> + 'static,
{
    let xn = x.node;
    push_node(
        out,
        |id| smallvec::smallvec![xn.filter(|n| n.tape == id).map(|n| n.index)],
        |_| {
            Box::new(move |g: &dyn Any| {
                let mut r = ParentGrads::new();
                r.push(g.downcast_ref::<Tensor<S, E>>().map(|g| erase(back(g))));
                r
            })
        },
    )
}

/// Records a two-input op: `back(grad_out, [needs_a, needs_b])` gives the inputs' gradients
/// (a rule may skip the ones not needed).
pub(crate) fn record_binary<S1, S2, S, E, F>(
    a: &Tensor<S1, E>,
    b: &Tensor<S2, E>,
    out: Tensor<S, E>,
    back: F,
) -> Tensor<S, E>
where
    S1: Shape,
    S2: Shape,
    S: Shape,
    E: Element,
    F: Fn(&Tensor<S, E>, [bool; 2]) -> super::rules::GradPair<S1, S2, E> + 'static,
{
    let (an, bn) = (a.node, b.node);
    push_node(
        out,
        |id| {
            smallvec::smallvec![
                an.filter(|n| n.tape == id).map(|n| n.index),
                bn.filter(|n| n.tape == id).map(|n| n.index)
            ]
        },
        |needs| {
            let needs = [needs[0], needs[1]];
            Box::new(move |g: &dyn Any| {
                let mut r = ParentGrads::new();
                match g.downcast_ref::<Tensor<S, E>>() {
                    Some(g) => {
                        let (ga, gb) = back(g, needs);
                        r.push(ga.map(erase));
                        r.push(gb.map(erase));
                    }
                    None => r.extend([None, None]),
                }
                r
            })
        },
    )
}

/// Records an op of any number of inputs of one type: `back(grad_out)` gives one gradient per input.
pub(crate) fn record_many<S1, S, E, F>(xs: &[Tensor<S1, E>], out: Tensor<S, E>, back: F) -> Tensor<S, E>
where
    S1: Shape,
    S: Shape,
    E: Element,
    F: Fn(&Tensor<S, E>) -> Vec<Tensor<S1, E>> + 'static,
{
    let nodes: Vec<Option<NodeId>> = xs.iter().map(|x| x.node).collect();
    push_node(
        out,
        |id| {
            nodes
                .iter()
                .map(|n| n.filter(|n| n.tape == id).map(|n| n.index))
                .collect()
        },
        |_| {
            Box::new(move |g: &dyn Any| match g.downcast_ref::<Tensor<S, E>>() {
                Some(g) => back(g).into_iter().map(|t| Some(erase(t))).collect(),
                None => ParentGrads::new(),
            })
        },
    )
}

/// A gradient tape: records the differentiable ops run on tracked values on this thread while
/// it is alive, then computes gradients by walking the record backwards (reverse mode).
///
/// Values become tracked by [`GradientTape::watch`] or by reading a trainable
/// [`crate::autodiff::Variable`] while the tape records. A tape made with
/// [`GradientTape::new`] answers one [`GradientTape::gradient`] call and then frees its
/// record; one made with [`GradientTape::persistent`] can be asked any number of times. The
/// record (and every intermediate value it holds) is freed when the tape is dropped.
///
/// Tapes nest: a tape created while another records takes over until it is dropped, and only
/// the innermost tape records. Gradients are first order (backward rules are not recorded).
///
/// ```
/// use tensor_core::prelude::*;
/// use tensor_core::autodiff::GradientTape;
/// tensor_macros::dims! { crate = ::tensor_core; N = 3; }
///
/// let x = Tensor::<(N,), f64>::from_vec(vec![1.0, 2.0, 3.0], &[]).unwrap();
/// let tape = GradientTape::new();
/// let x = tape.watch(&x);
/// let loss = x.square().sum_to_scalar(); // sum(x^2)
/// let grads = tape.gradient(&loss).unwrap();
/// assert_eq!(grads.wrt(&x).unwrap().to_vec(), vec![2.0, 4.0, 6.0]); // d/dx = 2x
/// ```
pub struct GradientTape {
    data: Rc<RefCell<TapeData>>,
    previous: Option<Rc<RefCell<TapeData>>>,
}

impl GradientTape {
    fn start(persistent: bool) -> Self {
        let data = Rc::new(RefCell::new(TapeData {
            id: NEXT_TAPE.fetch_add(1, Ordering::Relaxed),
            nodes: Vec::new(),
            variables: HashMap::new(),
            persistent,
            used: false,
            paused: false,
        }));
        let previous = CURRENT.with(|c| c.borrow_mut().replace(Rc::clone(&data)));
        refresh_flag();
        GradientTape { data, previous }
    }

    /// A tape that starts recording now and can compute gradients once.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self::start(false)
    }

    /// A tape that starts recording now and can compute gradients any number of times.
    pub fn persistent() -> Self {
        Self::start(true)
    }

    /// Whether this tape can be asked for gradients more than once.
    pub fn is_persistent(&self) -> bool {
        self.data.borrow().persistent
    }

    /// Number of ops recorded so far.
    pub fn len(&self) -> usize {
        self.data.borrow().nodes.len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tracks `x` on this tape: returns the same value marked as a source whose gradient
    /// [`Gradients::wrt`] can report. Watching a value already computed on this tape keeps
    /// the path to its own sources (the gradient flows through).
    pub fn watch<S: Shape, E: Float>(&self, x: &Tensor<S, E>) -> Tensor<S, E> {
        let mut data = self.data.borrow_mut();
        let id = data.id;
        let parent = parent_on(x, id);
        let index = data.nodes.len() as u32;
        let backward: Option<Backward> = parent.map(|_| {
            Box::new(|g: &dyn Any| {
                let mut r = ParentGrads::new();
                r.push(
                    g.downcast_ref::<Tensor<S, E>>()
                        .map(|g| Box::new(g.clone()) as AnyGrad),
                );
                r
            }) as Backward
        });
        data.nodes.push(Node {
            parents: smallvec::smallvec![parent],
            backward,
            accumulate: accumulate::<S, E>,
            kept_dims: Some(Dims::from_slice(x.dims())),
        });
        let mut out = x.clone();
        out.node = Some(NodeId { tape: id, index });
        out
    }

    /// Runs `f` without recording on this tape (values computed inside are untracked).
    pub fn stop_recording<R>(&self, f: impl FnOnce() -> R) -> R {
        let was = core::mem::replace(&mut self.data.borrow_mut().paused, true);
        refresh_flag();
        let r = f();
        self.data.borrow_mut().paused = was;
        refresh_flag();
        r
    }

    /// Gradients of the scalar `target` (one element) with respect to every watched value and
    /// every variable read on this tape.
    ///
    /// # Errors
    /// [`TensorError::NotRecorded`] when `target` was not computed on this tape from a tracked
    /// value; [`TensorError::NonScalarTarget`] when it has more than one element (use
    /// [`GradientTape::gradient_with`]); [`TensorError::TapeUsed`] on a second call to a
    /// non-persistent tape.
    pub fn gradient<S: Shape, E: Float>(&self, target: &Tensor<S, E>) -> Result<Gradients> {
        if target.numel() != 1 {
            return Err(TensorError::NonScalarTarget {
                shape: describe_shape(S::NAMES, target.dims()),
            });
        }
        let seed = Tensor::<S, E>::full_dims(E::one(), target.dims());
        self.run_backward(target, seed)
    }

    /// Gradients of a target of any shape, given the upstream gradient `upstream` (the
    /// gradient of some scalar with respect to `target`; a vector-Jacobian product).
    ///
    /// # Errors
    /// As [`GradientTape::gradient`], and [`TensorError::DimMismatch`] when `upstream` has other
    /// lengths than `target`.
    pub fn gradient_with<S: Shape, E: Float>(
        &self,
        target: &Tensor<S, E>,
        upstream: &Tensor<S, E>,
    ) -> Result<Gradients> {
        crate::ops::check_trailing("gradient_with", S::NAMES, target.dims(), upstream.dims())?;
        self.run_backward(target, upstream.contiguous())
    }

    fn run_backward<S: Shape, E: Float>(
        &self,
        target: &Tensor<S, E>,
        seed: Tensor<S, E>,
    ) -> Result<Gradients> {
        let mut data = self.data.borrow_mut();
        if data.used {
            return Err(TensorError::TapeUsed);
        }
        let start = parent_on(target, data.id).ok_or(TensorError::NotRecorded {
            what: "the gradient target",
        })? as usize;
        let mut grads: Vec<Option<AnyGrad>> = Vec::new();
        grads.resize_with(start + 1, || None);
        grads[start] = Some(erase(seed));
        let mut kept = HashMap::new();
        without_recording(|| {
            for i in (0..=start).rev() {
                let Some(g) = grads[i].take() else { continue };
                let node = &data.nodes[i];
                if let Some(backward) = &node.backward {
                    let pgs = backward(&*g);
                    for (p, pg) in node.parents.iter().zip(pgs) {
                        let (Some(p), Some(pg)) = (p, pg) else { continue };
                        let p = *p as usize;
                        match &mut grads[p] {
                            Some(acc) => (data.nodes[p].accumulate)(acc, pg),
                            slot => *slot = Some(pg),
                        }
                    }
                }
                if node.kept_dims.is_some() {
                    kept.insert(i as u32, g);
                }
            }
        });
        let sources = data
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.kept_dims.clone().map(|d| (i as u32, d)))
            .collect();
        let variables = data.variables.iter().map(|(&v, &(n, _))| (v, n)).collect();
        let out = Gradients::new(data.id, kept, sources, variables);
        if !data.persistent {
            data.used = true;
            data.nodes = Vec::new();
            data.variables = HashMap::new();
            drop(data);
            refresh_flag();
        }
        Ok(out)
    }
}

impl Drop for GradientTape {
    fn drop(&mut self) {
        CURRENT.with(|c| {
            let mut cur = c.borrow_mut();
            if cur.as_ref().is_some_and(|t| Rc::ptr_eq(t, &self.data)) {
                *cur = self.previous.take();
            }
        });
        refresh_flag();
    }
}

impl core::fmt::Debug for GradientTape {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let d = self.data.borrow();
        f.debug_struct("GradientTape")
            .field("id", &d.id)
            .field("nodes", &d.nodes.len())
            .field("persistent", &d.persistent)
            .finish()
    }
}

impl<S: Shape, E: Element> Tensor<S, E> {
    /// The same value, cut off from the gradient tape: no gradient flows through the result
    /// (TensorFlow's `tf.stop_gradient`).
    pub fn stop_gradient(&self) -> Self {
        let mut t = self.clone();
        t.node = None;
        t
    }

    /// Whether this value was recorded by a gradient tape (and so can carry a gradient).
    pub fn is_tracked(&self) -> bool {
        self.node.is_some()
    }

    /// A filled tensor of the given full lengths (crate-internal helper for backward rules).
    pub(crate) fn full_dims(value: E, dims: &[usize]) -> Self {
        Self::from_buffer(crate::storage::buffer_filled(dims.iter().product(), value), dims)
    }
}
