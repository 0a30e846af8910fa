//! TensorBoard event files: CRC-32C, record framing and the protobuf contents, decoded here
//! by an independent minimal protobuf reader.

use tensor_nn::train::tensorboard::{crc32c, masked_crc32c, read_records, EventWriter};

#[test]
fn crc32c_matches_the_standard_check_values() {
    // The CRC-32C check value (RFC 3720 / iSCSI): crc32c("123456789") = 0xE3069283.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
    // RFC 3720 B.4: 32 bytes of zeros.
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    // masked = rotr(crc, 15) + 0xa282ead8.
    assert_eq!(
        masked_crc32c(b"123456789"),
        0xE306_9283u32.rotate_right(15).wrapping_add(0xA282_EAD8)
    );
}

/// Field number → raw values of one protobuf message (varints as u64, fixed64 as bits,
/// fixed32 as bits, length-delimited as bytes).
#[derive(Debug)]
enum Field {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(Vec<u8>),
}

fn read_varint(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7F) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn fields(b: &[u8]) -> Vec<(u64, Field)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        let key = read_varint(b, &mut at);
        let f = match key & 7 {
            0 => Field::Varint(read_varint(b, &mut at)),
            1 => {
                at += 8;
                Field::Fixed64(u64::from_le_bytes(b[at - 8..at].try_into().unwrap()))
            }
            5 => {
                at += 4;
                Field::Fixed32(u32::from_le_bytes(b[at - 4..at].try_into().unwrap()))
            }
            2 => {
                let n = read_varint(b, &mut at) as usize;
                at += n;
                Field::Bytes(b[at - n..at].to_vec())
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((key >> 3, f));
    }
    out
}

fn get(fs: &[(u64, Field)], n: u64) -> &Field {
    &fs.iter()
        .find(|(k, _)| *k == n)
        .unwrap_or_else(|| panic!("field {n} missing"))
        .1
}

fn bytes(f: &Field) -> &[u8] {
    match f {
        Field::Bytes(b) => b,
        other => panic!("not bytes: {other:?}"),
    }
}

#[test]
fn event_files_hold_version_scalars_and_histograms() {
    let dir = std::env::temp_dir().join(format!("tensor-nn-tb-{}", std::process::id()));
    let mut w = EventWriter::create(&dir).unwrap();
    w.scalars(3, &[("epoch_loss", 0.25), ("epoch_accuracy", 0.75)])
        .unwrap();
    w.histogram(3, "dense1.kernel/histogram", &[-1.0, 0.0, 0.5, 2.0])
        .unwrap();
    w.flush().unwrap();
    let path = w.path().to_path_buf();
    assert!(path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("events.out.tfevents."));
    let records = read_records(&path).unwrap();
    assert_eq!(records.len(), 3);

    // Event { wall_time = 1 (double), step = 2, file_version = 3 }.
    let first = fields(&records[0]);
    assert_eq!(bytes(get(&first, 3)), b"brain.Event:2");
    assert!(matches!(get(&first, 1), Field::Fixed64(_)));

    // Event.summary = 5; Summary.value = 1 (repeated); Value { tag = 1, simple_value = 2 }.
    let e = fields(&records[1]);
    assert!(matches!(get(&e, 2), Field::Varint(3)));
    let summary = fields(bytes(get(&e, 5)));
    let values: Vec<(String, f32)> = summary
        .iter()
        .map(|(_, v)| {
            let v = fields(bytes(v));
            let tag = String::from_utf8(bytes(get(&v, 1)).to_vec()).unwrap();
            let Field::Fixed32(bits) = get(&v, 2) else {
                panic!("simple_value is a float")
            };
            (tag, f32::from_bits(*bits))
        })
        .collect();
    assert_eq!(
        values,
        vec![
            ("epoch_loss".to_string(), 0.25),
            ("epoch_accuracy".to_string(), 0.75)
        ]
    );

    // Value.histo = 5: HistogramProto { min 1, max 2, num 3, sum 4, sum_squares 5, limits 6, counts 7 }.
    let e = fields(&records[2]);
    let v = fields(bytes(&fields(bytes(get(&e, 5)))[0].1));
    assert_eq!(bytes(get(&v, 1)), b"dense1.kernel/histogram");
    let h = fields(bytes(get(&v, 5)));
    let dbl = |n| match get(&h, n) {
        Field::Fixed64(b) => f64::from_bits(*b),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (dbl(1), dbl(2), dbl(3), dbl(4), dbl(5)),
        (-1.0, 2.0, 4.0, 1.5, 5.25)
    );
    let packed = |n| {
        bytes(get(&h, n))
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect::<Vec<_>>()
    };
    let (limits, counts) = (packed(6), packed(7));
    assert_eq!(limits.len(), counts.len());
    assert_eq!(counts.iter().sum::<f64>(), 4.0);
    assert_eq!(*limits.last().unwrap(), 2.0);

    // One flipped byte makes the file unreadable from that record on, with a reason.
    let mut raw = std::fs::read(&path).unwrap();
    let n = raw.len();
    raw[n - 10] ^= 0xFF;
    std::fs::write(&path, &raw).unwrap();
    let err = read_records(&path).unwrap_err().to_string();
    assert!(err.contains("record 2: data CRC mismatch"), "{err}");
    std::fs::write(&path, &raw[..n - 3]).unwrap();
    assert!(read_records(&path)
        .unwrap_err()
        .to_string()
        .contains("record 2: truncated"));
    let _ = std::fs::remove_dir_all(dir);
}
