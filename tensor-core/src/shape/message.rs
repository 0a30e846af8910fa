//! Compile-time (const) checks with messages that name dims and sizes: a fixed buffer that
//! `const fn`s write into, then `panic!("{}", msg)`, which is allowed in const evaluation.

use super::Shape;

/// A small string buffer usable in const evaluation.
pub struct ConstMsg {
    buf: [u8; 512],
    len: usize,
}

impl ConstMsg {
    /// An empty message.
    pub const fn new() -> Self {
        ConstMsg {
            buf: [0; 512],
            len: 0,
        }
    }

    /// Appends a string (truncated at the buffer's end).
    pub const fn push(mut self, s: &str) -> Self {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && self.len < self.buf.len() {
            self.buf[self.len] = b[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends a number in decimal.
    pub const fn push_num(mut self, mut n: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut k = 0;
        loop {
            digits[k] = b'0' + (n % 10) as u8;
            k += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        while k > 0 && self.len < self.buf.len() {
            k -= 1;
            self.buf[self.len] = digits[k];
            self.len += 1;
        }
        self
    }

    /// Appends a shape as `[Batch, H=28, W=28]`.
    pub const fn push_shape(mut self, names: &[&str], sizes: &[Option<usize>]) -> Self {
        self = self.push("[");
        let mut i = 0;
        while i < names.len() {
            if i > 0 {
                self = self.push(", ");
            }
            self = self.push(names[i]);
            if let Some(n) = sizes[i] {
                self = self.push("=").push_num(n);
            }
            i += 1;
        }
        self.push("]")
    }

    /// The message so far.
    pub const fn as_str(&self) -> &str {
        let (head, _) = self.buf.split_at(self.len);
        match core::str::from_utf8(head) {
            Ok(s) => s,
            Err(_) => "(message not valid UTF-8)",
        }
    }
}

impl ConstMsg {
    /// Ends const evaluation (a compile error when evaluated in a `const` item) with the
    /// message built so far.
    pub const fn fail(&self) -> ! {
        panic!("{}", self.as_str())
    }
}

impl Default for ConstMsg {
    fn default() -> Self {
        Self::new()
    }
}

/// Const check that a reshape from `S` to `S2` can keep the element count; panics at compile
/// time (build) with both shapes and their static element counts otherwise.
pub const fn check_reshape<S: Shape, S2: Shape>() {
    if !super::reshape_compatible(S::STATIC, S::NAMES, S2::STATIC, S2::NAMES) {
        let msg = ConstMsg::new()
            .push("reshape changes the element count: ")
            .push_shape(S::NAMES, S::STATIC)
            .push(" has ")
            .push_num(super::static_numel(S::STATIC))
            .push(" static elements but ")
            .push_shape(S2::NAMES, S2::STATIC)
            .push(" has ")
            .push_num(super::static_numel(S2::STATIC));
        msg.fail();
    }
}
