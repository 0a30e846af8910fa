//! A gzip bomb in IDX clothing: a header declaring 4 bytes, then 64 MiB of zeros compressed to
//! about 64 KiB. The reader checks the header first and inflates no more than it declares (plus
//! one byte to see that more follows), so the process's peak memory stays small. Its own test
//! binary, since it reads the peak resident memory of the whole process (Linux's `VmHWM`).

#![cfg(target_os = "linux")]

use std::io::Write;

use tensor_nn::io::idx::read_idx;
use tensor_nn::NnError;

/// The peak resident memory of this process so far, in bytes.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: usize = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

#[test]
fn a_gzip_bomb_is_rejected_without_inflating_it() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&[0, 0, 0x08, 1, 0, 0, 0, 4]).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).unwrap();
    }
    drop(zeros);
    let gz = enc.finish().unwrap();
    assert!(gz.len() < 1 << 20, "{} bytes", gz.len());
    let path = std::env::temp_dir().join(format!("tensor-nn-idx-bomb-{}.gz", std::process::id()));
    std::fs::write(&path, &gz).unwrap();
    let result = read_idx(&path);
    let _ = std::fs::remove_file(&path);
    match result {
        Err(NnError::BadFile { reason, .. }) => {
            assert!(reason.contains("trailing bytes in IDX data"), "{reason}")
        }
        other => panic!("expected BadFile, got {other:?}"),
    }
    // The test binary, the compressed file and the decoder's buffers, not the 64 MiB inflated
    // (inflating it whole peaked at about 200 MiB).
    let peak = peak_rss();
    assert!(peak < 32 << 20, "peak resident memory: {} MiB", peak >> 20);
}
