//! Compile-time checks emitted by `model!` for what the macro cannot see: the sizes of dims
//! declared with `dims!`. They run as `const` items, so `cargo check` reports them, and their
//! panic messages name the dims, the layer and the fix.

use tensor_core::Dim;

/// A fixed-capacity message built in const context.
struct Msg {
    buf: [u8; 400],
    len: usize,
}

impl Msg {
    const fn new() -> Self {
        Msg {
            buf: [0; 400],
            len: 0,
        }
    }

    const fn push(mut self, s: &str) -> Self {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && self.len < self.buf.len() {
            self.buf[self.len] = b[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    const fn push_usize(mut self, mut v: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        while n > 0 && self.len < self.buf.len() {
            n -= 1;
            self.buf[self.len] = digits[n];
            self.len += 1;
        }
        self
    }

    const fn fail(&self) -> ! {
        let (head, _) = self.buf.split_at(self.len);
        match core::str::from_utf8(head) {
            Ok(s) => panic!("{}", s),
            Err(_) => panic!("model! check failed"),
        }
    }
}

/// Static size of `D`, or 0 when it is sized at run time (generated code sizes its weights
/// with this after [`require_static`] has ruled the run-time case out).
pub const fn size_of_dim<D: Dim>() -> usize {
    match D::SIZE {
        Some(n) => n,
        None => 0,
    }
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
                .push_usize(n)
                .push(") does not match ")
                .push(what)
                .push(" (")
                .push_usize(expected)
                .push(")")
                .fail();
        }
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
    const SIZE: usize = size_of_dim::<Hidden>();

    #[test]
    fn passing_checks_and_sizes() {
        assert_eq!(SIZE, 128);
        let m = Msg::new().push("n=").push_usize(40_960);
        assert_eq!(&m.buf[..m.len], b"n=40960");
    }
}
