//! IDX files gzipped in several members, and gzipped data that does not match its header.

use std::io::Write;
use std::path::PathBuf;

use tensor_nn::io::idx::{read_idx, IdxArray, IdxData};
use tensor_nn::NnError;

fn tmp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tensor-nn-io-idx-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let path = d.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A u8 IDX file of the given dims holding 0, 1, 2, ...
fn idx_u8(dims: &[u32]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    let n: u32 = dims.iter().product();
    b.extend((0..n).map(|i| i as u8));
    b
}

/// The message of a [`NnError::BadFile`].
fn reason(r: Result<IdxArray, NnError>) -> String {
    let e = r.unwrap_err();
    assert!(matches!(e, NnError::BadFile { .. }), "{e:?}");
    e.to_string()
}

#[test]
fn a_multi_member_gzip_file_is_read_whole() {
    // As `cat a.gz b.gz` or a parallel gzip writes it: the header in one member, the data split
    // over two more.
    let raw = idx_u8(&[3, 100]);
    let mut gz = gzip(&raw[..12]);
    gz.extend(gzip(&raw[12..150]));
    gz.extend(gzip(&raw[150..]));
    let a = read_idx(tmp_file("multi.gz", &gz)).unwrap();
    assert_eq!(a.dims, vec![3, 100]);
    assert_eq!(a.data, IdxData::U8((0..300).map(|i| i as u8).collect()));
}

#[test]
fn gzipped_data_longer_or_shorter_than_its_header_is_an_error() {
    let raw = idx_u8(&[2, 50]);
    let mut long = raw.clone();
    long.push(7);
    let r = reason(read_idx(tmp_file("long.gz", &gzip(&long))));
    assert!(r.contains("trailing bytes in IDX data"), "{r}");
    // Extra data in a further member counts too.
    let mut gz = gzip(&raw);
    gz.extend(gzip(&[1, 2, 3]));
    let r = reason(read_idx(tmp_file("long2.gz", &gz)));
    assert!(r.contains("trailing bytes in IDX data"), "{r}");
    let r = reason(read_idx(tmp_file("short.gz", &gzip(&raw[..raw.len() - 1]))));
    assert!(
        r.contains("truncated IDX data: dims [2, 50] need 100 bytes, found 99"),
        "{r}"
    );
    let r = reason(read_idx(tmp_file("hdr.gz", &gzip(&raw[..7]))));
    assert!(r.contains("truncated IDX header"), "{r}");
    // Garbage after the last member is corrupt gzip data.
    let mut gz = gzip(&raw);
    gz.extend(b"not gzip");
    let r = reason(read_idx(tmp_file("garbage.gz", &gz)));
    assert!(r.contains("gzip"), "{r}");
    // A header declaring far more than the stream holds is an error, not an allocation of
    // the declared size.
    let mut huge = vec![0, 0, 0x0E, 3];
    for _ in 0..3 {
        huge.extend_from_slice(&0xFFFF_u32.to_be_bytes());
    }
    huge.extend([0; 64]);
    let r = reason(read_idx(tmp_file("huge.gz", &gzip(&huge))));
    assert!(r.contains("truncated IDX data"), "{r}");
    // The same file uncompressed.
    let r = reason(read_idx(tmp_file("huge.idx", &huge)));
    assert!(r.contains("truncated IDX data"), "{r}");
}
