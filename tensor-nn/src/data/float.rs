//! Decimal text to `f32`: an exact fast path for plain decimals, std's parser for the rest.

/// Parses a float, allowing surrounding spaces: plain decimals through an exact fast path,
/// everything else (exponents, `inf`, `nan`, long mantissas) through std's parser.
pub(crate) fn parse_f32(text: &str) -> Option<f32> {
    let t = text.trim();
    fast_decimal(t.as_bytes()).or_else(|| t.parse().ok())
}

/// Powers of ten exactly representable in f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// `[+-]digits[.digits]` with at most 15 digits: the mantissa `w < 10^15 < 2^53` and `10^k`
/// (`k <= 22`) are exact in f64, so `w / 10^k` is the correctly rounded f64 (Clinger's fast
/// path). Rounding that to f32 is then correct unless the f64 lies exactly half-way between two
/// f32s (the true value could be on either side): those rare cases go to std's parser.
fn fast_decimal(b: &[u8]) -> Option<f32> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let (mut w, mut n, mut frac, mut dot) = (0u64, 0usize, 0usize, false);
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                n += 1;
                if n > 15 {
                    return None;
                }
                w = w * 10 + u64::from(c - b'0');
                frac += usize::from(dot);
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if n == 0 {
        return None;
    }
    let v = w as f64 / POW10[frac];
    // f64 has 29 more mantissa bits than f32: a half-way f64 ends in 1 followed by 28 zeros.
    if v.to_bits() & 0x1FFF_FFFF == 0x1000_0000 {
        return None;
    }
    let f = v as f32;
    Some(if neg { -f } else { f })
}

#[cfg(test)]
mod tests {
    use super::parse_f32;
    use proptest::prelude::*;

    #[test]
    fn fast_path_agrees_with_std_on_edge_cases() {
        for s in [
            "0",
            "-0",
            "-0.0",
            "5.",
            ".5",
            "+1.25",
            "16777217",
            "0.1",
            "3.4028235e38",
            "1e-3",
            "nan",
            "inf",
            "123456789012345",
            "1234567890123456",
            "0.000000000000000000001",
            " 2.5 ",
            "1.5.2",
            "-",
            ".",
            "",
            "33554433",
            "0.30000001192092896",
        ] {
            let std = s.trim().parse::<f32>().ok();
            let ours = parse_f32(s);
            assert_eq!(ours.map(f32::to_bits), std.map(f32::to_bits), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn fast_path_is_bit_exact(int in 0u64..100_000_000_000, frac in 0u64..10_000_000_000, fd in 0usize..11, neg: bool) {
            let frac = format!("{frac:010}");
            let s = format!("{}{int}.{}", if neg { "-" } else { "" }, &frac[..fd]);
            prop_assert_eq!(parse_f32(&s).map(f32::to_bits), s.parse::<f32>().ok().map(f32::to_bits), "{}", s);
        }

        #[test]
        fn halfway_neighbourhoods_are_exact(bits in 0x3380_0000u32..0x5f00_0000, digits in 1usize..15) {
            // Decimals printed near f32 midpoints, where double rounding would bite.
            let lo = f32::from_bits(bits);
            let hi = f32::from_bits(bits + 1);
            let mid = (f64::from(lo) + f64::from(hi)) / 2.0;
            let s = format!("{mid:.digits$}");
            prop_assert_eq!(parse_f32(&s).map(f32::to_bits), s.parse::<f32>().ok().map(f32::to_bits), "{}", s);
        }
    }
}
