//! Compile-time checks emitted by `model!` for what the macro cannot see: the sizes of dims
//! declared with `dims!`. They run as `const` items, so `cargo check` reports them, and their
//! panic messages name the dims, the layer and the fix.

use tensor_core::Dim;

/// The const message builder shared with tensor-core's own const checks.
type Msg = tensor_core::shape::message::ConstMsg;

/// Static size of `D`, or 0 when it is sized at run time (generated code sizes its weights
/// with this after [`require_static`] has ruled the run-time case out).
pub const fn size_of_dim<D: Dim>() -> usize {
    tensor_core::dim::static_size_or_zero::<D>()
}

/// Fails compilation unless `D` has a static size: `layer` needs it for `role`.
pub const fn require_static<D: Dim>(layer: &str, role: &str) {
    if D::SIZE.is_none() {
        Msg::new()
            .push("`")
            .push(layer)
            .push("` needs a static size for ")
            .push(role)
            .push(", but dimension `")
            .push(D::NAME)
            .push("` is sized at run time; give it a size in `dims!` (`")
            .push(D::NAME)
            .push(" = 128;`) or use an inline dim such as `Dense(H = 128)`")
            .fail();
    }
}

/// Fails compilation unless the static size of `D` is `expected` (the sum of a concat, or an
/// inline size the macro knows), naming both sides.
pub const fn require_size<D: Dim>(expected: usize, what: &str) {
    if let Some(n) = D::SIZE {
        if n != expected {
            Msg::new()
                .push("dimension `")
                .push(D::NAME)
                .push("` (")
                .push_num(n)
                .push(") does not match ")
                .push(what)
                .push(" (")
                .push_num(expected)
                .push(")")
                .fail();
        }
    }
}

/// Fails compilation when a reshape changes the element count of a sample: `layer` turns
/// `from` (whose dims after the first, `from_tail`, hold `n` elements) into `to` (`to_tail`,
/// `m` elements). A count of 0 means a run-time dim is involved; [`require_static`] reports it.
pub const fn require_same_count(n: usize, m: usize, layer: &str, shapes: [&str; 4]) {
    if n != m && n != 0 && m != 0 {
        Msg::new()
            .push("`")
            .push(layer)
            .push("` cannot reshape `")
            .push(shapes[0])
            .push("` to `")
            .push(shapes[1])
            .push("`: `")
            .push(shapes[2])
            .push("` holds ")
            .push_num(n)
            .push(" elements but `")
            .push(shapes[3])
            .push("` holds ")
            .push_num(m)
            .push("; a reshape keeps the element count of every sample")
            .fail();
    }
}

/// Fails compilation unless the input channels `c` and the filters `f` of the grouped
/// convolution `layer` are multiples of `groups`; `dims` names them.
pub const fn require_groups(c: usize, f: usize, groups: usize, layer: &str, dims: [&str; 2]) {
    if groups > 0 && !(c.is_multiple_of(groups) && f.is_multiple_of(groups)) {
        Msg::new()
            .push("`")
            .push(layer)
            .push("` with `groups = ")
            .push_num(groups)
            .push("` splits its input channels `")
            .push(dims[0])
            .push("` (")
            .push_num(c)
            .push(") and its filters `")
            .push(dims[1])
            .push("` (")
            .push_num(f)
            .push(") into ")
            .push_num(groups)
            .push(" groups, so both must be multiples of ")
            .push_num(groups)
            .fail();
    }
}

/// Output length of a window spanning `span` cells moved by `stride` over `len` cells, with
/// Keras' same (`ceil(len / stride)`) or valid (`(len − span) / stride + 1`) padding; 0 when a
/// valid window does not fit (`model!` reports that at expansion for the sizes it knows).
pub const fn window_out(len: usize, span: usize, stride: usize, same: bool) -> usize {
    if stride == 0 {
        0
    } else if same {
        len.div_ceil(stride)
    } else if len >= span {
        (len - span) / stride + 1
    } else {
        0
    }
}

/// Fails compilation when a window spanning `span` cells does not fit the `len` cells of the
/// input dim `dim` of layer `layer` with valid padding (sizes from `dims!` that `model!` cannot
/// see).
pub const fn require_window(len: usize, span: usize, layer: &str, dim: &str) {
    if len < span {
        Msg::new()
            .push("`")
            .push(layer)
            .push("`: the window spans ")
            .push_num(span)
            .push(" cells but the input dim `")
            .push(dim)
            .push("` has only ")
            .push_num(len)
            .push(" and `padding = Valid` adds none; use a smaller window or `padding = Same`")
            .fail();
    }
}

/// Fails compilation when a valid window spanning `span` cells moved by `stride` does not tile
/// the `len` cells of the input dim `dim` of layer `layer` (the layer asked for `exact = true`):
/// `(len − span) % stride` cells at the end would be dropped.
pub const fn require_tiling(len: usize, span: usize, stride: usize, layer: &str, dim: &str) {
    if len >= span && stride > 0 && !(len - span).is_multiple_of(stride) {
        let r = (len - span) % stride;
        Msg::new()
            .push("`")
            .push(layer)
            .push("`: `exact = true`, but the window does not tile the input dim `")
            .push(dim)
            .push("` (")
            .push_num(len)
            .push("): a span of ")
            .push_num(span)
            .push(" cells moved by stride ")
            .push_num(stride)
            .push(" drops ")
            .push_num(r)
            .push(" cell(s) at the end, (")
            .push_num(len)
            .push(" − ")
            .push_num(span)
            .push(") % ")
            .push_num(stride)
            .push(" = ")
            .push_num(r)
            .push("; pick sizes where `")
            .push(dim)
            .push("` − ")
            .push_num(span)
            .push(" is a multiple of ")
            .push_num(stride)
            .push(", or use `padding = Same`")
            .fail();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, Default)]
    struct Hidden;
    impl Dim for Hidden {
        const NAME: &'static str = "Hidden";
        const SIZE: Option<usize> = Some(128);
    }

    const _: () = require_static::<Hidden>("dense1", "its units");
    const _: () = require_size::<Hidden>(128, "the concat");
    const _: () = require_same_count(784, 784, "flatten1", ["[B, H, W]", "[B, F]", "[H, W]", "[F]"]);
    const _: () = require_same_count(0, 784, "flatten1", ["[B, S, W]", "[B, F]", "[S, W]", "[F]"]);
    const SIZE: usize = size_of_dim::<Hidden>();
    const _: () = require_tiling(28, 2, 2, "max_pool1", "H");
    const _: () = require_tiling(27, 3, 2, "conv2d1", "H");

    #[test]
    fn passing_checks_and_sizes() {
        assert_eq!(SIZE, 128);
        let m = Msg::new().push("n=").push_num(40_960);
        assert_eq!(m.as_str(), "n=40960");
    }

    #[test]
    fn window_out_same_and_valid() {
        // valid: (28 − 3) / 1 + 1 = 26; (7 − 5) / 1 + 1 = 3 (kernel 3, dilation 2)
        // same: ceil(7 / 2) = 4; a valid window larger than the input: 0
        assert_eq!(super::window_out(28, 3, 1, false), 26);
        assert_eq!(super::window_out(7, 5, 1, false), 3);
        assert_eq!(super::window_out(7, 3, 2, true), 4);
        assert_eq!(super::window_out(4, 5, 1, false), 0);
    }
}
