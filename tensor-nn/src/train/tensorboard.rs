//! TensorBoard event files written by hand: TFRecord framing (length, masked CRC-32C, data,
//! masked CRC-32C) around hand-encoded `Event` protobufs holding classic `simple_value`
//! scalars and `HistogramProto` histograms. The first record is `file_version: "brain.Event:2"`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::callbacks::{Callback, TrainState};
use super::Logs;
use crate::error::{NnError, Result};

const fn crc32c_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0x82F6_3B78 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC32C: [u32; 256] = crc32c_table();

/// CRC-32C (Castagnoli) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC32C[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// TFRecord's masked CRC: `rotr(crc, 15) + 0xa282ead8`.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xA282_EAD8)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(field: u32, wire: u8, out: &mut Vec<u8>) {
    varint((u64::from(field) << 3) | u64::from(wire), out);
}

fn bytes_field(field: u32, data: &[u8], out: &mut Vec<u8>) {
    key(field, 2, out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn double_field(field: u32, v: f64, out: &mut Vec<u8>) {
    key(field, 1, out);
    out.extend_from_slice(&v.to_le_bytes());
}

fn event(wall_time: f64, step: i64, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut e = Vec::new();
    double_field(1, wall_time, &mut e);
    key(2, 0, &mut e);
    varint(step as u64, &mut e);
    body(&mut e);
    e
}

/// A histogram of values as TensorBoard's `HistogramProto`: 30 equal-width buckets.
fn histogram_proto(values: &[f32]) -> Vec<u8> {
    let finite: Vec<f64> = values
        .iter()
        .map(|&v| f64::from(v))
        .filter(|v| v.is_finite())
        .collect();
    let (min, max) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (min, max) = if finite.is_empty() { (0.0, 0.0) } else { (min, max) };
    let buckets = if max > min { 30 } else { 1 };
    let width = (max - min) / buckets as f64;
    let limits: Vec<f64> = (1..=buckets)
        .map(|i| if i == buckets { max } else { min + width * i as f64 })
        .collect();
    let mut counts = vec![0f64; buckets];
    for &v in &finite {
        let i = if width > 0.0 {
            (((v - min) / width) as usize).min(buckets - 1)
        } else {
            0
        };
        counts[i] += 1.0;
    }
    let mut h = Vec::new();
    double_field(1, min, &mut h);
    double_field(2, max, &mut h);
    double_field(3, finite.len() as f64, &mut h);
    double_field(4, finite.iter().sum(), &mut h);
    double_field(5, finite.iter().map(|v| v * v).sum(), &mut h);
    let packed = |vals: &[f64]| vals.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    bytes_field(6, &packed(&limits), &mut h);
    bytes_field(7, &packed(&counts), &mut h);
    h
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Writes one TensorBoard event file.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir/events.out.tfevents.{secs}.{host}.{pid}.v2` with its `file_version` record.
    ///
    /// # Errors
    /// [`NnError::Io`] when the directory or file cannot be created.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| NnError::io(dir, e))?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        let path = dir.join(format!(
            "events.out.tfevents.{}.{host}.{}.v2",
            now() as u64,
            std::process::id()
        ));
        let file = File::create(&path).map_err(|e| NnError::io(&path, e))?;
        let mut w = Self {
            path,
            out: BufWriter::new(file),
        };
        let version = event(now(), 0, |e| bytes_field(3, b"brain.Event:2", e));
        w.record(&version)?;
        w.flush()?;
        Ok(w)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        let mut buf = Vec::with_capacity(data.len() + 16);
        buf.extend_from_slice(&len);
        buf.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
        buf.extend_from_slice(data);
        buf.extend_from_slice(&masked_crc32c(data).to_le_bytes());
        self.out.write_all(&buf).map_err(|e| NnError::io(&self.path, e))
    }

    /// Writes scalars (`tag`, value) at `step`, as one event.
    ///
    /// # Errors
    /// [`NnError::Io`] on a write failure.
    pub fn scalars(&mut self, step: i64, values: &[(&str, f32)]) -> Result<()> {
        let e = event(now(), step, |e| {
            let mut summary = Vec::new();
            for (tag, v) in values {
                let mut value = Vec::new();
                bytes_field(1, tag.as_bytes(), &mut value);
                key(2, 5, &mut value);
                value.extend_from_slice(&v.to_le_bytes());
                bytes_field(1, &value, &mut summary);
            }
            bytes_field(5, &summary, e);
        });
        self.record(&e)
    }

    /// Writes a histogram of `values` under `tag` at `step`.
    ///
    /// # Errors
    /// [`NnError::Io`] on a write failure.
    pub fn histogram(&mut self, step: i64, tag: &str, values: &[f32]) -> Result<()> {
        let e = event(now(), step, |e| {
            let mut value = Vec::new();
            bytes_field(1, tag.as_bytes(), &mut value);
            bytes_field(5, &histogram_proto(values), &mut value);
            let mut summary = Vec::new();
            bytes_field(1, &value, &mut summary);
            bytes_field(5, &summary, e);
        });
        self.record(&e)
    }

    /// Flushes buffered records to the file.
    ///
    /// # Errors
    /// [`NnError::Io`] on a write failure.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| NnError::io(&self.path, e))
    }
}

/// Reads back the records of an event file, checking both CRCs of each.
///
/// # Errors
/// [`NnError::BadFile`] naming the record that is truncated or fails its CRC.
pub fn read_records(path: impl AsRef<Path>) -> Result<Vec<Vec<u8>>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| NnError::io(path, e))?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let n = out.len();
        let bad = |r: &str| NnError::bad_file(path, format!("record {n}: {r}"));
        let head = bytes.get(at..at + 12).ok_or_else(|| bad("truncated header"))?;
        let len_bytes = &head[..8];
        let crc = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if crc != masked_crc32c(len_bytes) {
            return Err(bad("length CRC mismatch"));
        }
        let len = usize::try_from(u64::from_le_bytes(
            len_bytes.try_into().map_err(|_| bad("bad length"))?,
        ))
        .map_err(|_| bad("length overflows"))?;
        let data = bytes
            .get(at + 12..at + 12 + len)
            .ok_or_else(|| bad("truncated data"))?;
        let tail = bytes
            .get(at + 12 + len..at + 16 + len)
            .ok_or_else(|| bad("truncated data CRC"))?;
        if u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) != masked_crc32c(data) {
            return Err(bad("data CRC mismatch"));
        }
        out.push(data.to_vec());
        at += 16 + len;
    }
    Ok(out)
}

/// How often the TensorBoard callback writes scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateFreq {
    /// Once per epoch (`epoch_*` tags).
    Epoch,
    /// Also every `n` steps (`batch_*` tags).
    Steps(usize),
}

/// Keras' `TensorBoard` callback: `train/` and `validation/` event files with `epoch_loss`,
/// `epoch_{metric}`, `epoch_learning_rate`, weight histograms and the fraction of zero outputs
/// of every ReLU layer (`relu_zero_fraction/{layer}`).
#[derive(Debug)]
pub struct TensorBoard {
    log_dir: PathBuf,
    update_freq: UpdateFreq,
    histogram_freq: usize,
    train: Option<EventWriter>,
    validation: Option<EventWriter>,
    global_step: i64,
}

impl TensorBoard {
    /// Logs under `log_dir`, per epoch, with weight histograms every epoch.
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        Self {
            log_dir: log_dir.into(),
            update_freq: UpdateFreq::Epoch,
            histogram_freq: 1,
            train: None,
            validation: None,
            global_step: 0,
        }
    }

    /// Also writes `batch_*` scalars every `n` steps.
    pub fn with_update_freq(mut self, freq: UpdateFreq) -> Self {
        self.update_freq = freq;
        self
    }

    /// Weight histograms every `n` epochs (0: never).
    pub fn with_histogram_freq(mut self, n: usize) -> Self {
        self.histogram_freq = n;
        self
    }

    /// The training event file, once training has begun.
    pub fn train_file(&self) -> Option<&Path> {
        self.train.as_ref().map(EventWriter::path)
    }

    /// The validation event file, once training has begun.
    pub fn validation_file(&self) -> Option<&Path> {
        self.validation.as_ref().map(EventWriter::path)
    }
}

impl Callback for TensorBoard {
    fn on_train_begin(&mut self, _state: &mut TrainState<'_>) -> Result<()> {
        self.train = Some(EventWriter::create(self.log_dir.join("train"))?);
        self.validation = Some(EventWriter::create(self.log_dir.join("validation"))?);
        Ok(())
    }

    fn on_train_batch_end(&mut self, _step: usize, logs: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        self.global_step += 1;
        if let (UpdateFreq::Steps(n), Some(w)) = (self.update_freq, self.train.as_mut()) {
            if n > 0 && self.global_step % n as i64 == 0 {
                let tags: Vec<(String, f32)> = logs.iter().map(|(k, v)| (format!("batch_{k}"), *v)).collect();
                let mut values: Vec<(&str, f32)> = tags.iter().map(|(k, v)| (k.as_str(), *v)).collect();
                let relu: Vec<(String, f32)> = state
                    .model
                    .zero_fractions()
                    .into_iter()
                    .map(|(k, v)| (format!("relu_zero_fraction/{k}"), v))
                    .collect();
                values.extend(relu.iter().map(|(k, v)| (k.as_str(), *v)));
                w.scalars(self.global_step, &values)?;
            }
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        let step = epoch as i64;
        let mut train: Vec<(String, f32)> = Vec::new();
        let mut val: Vec<(String, f32)> = Vec::new();
        for (k, v) in logs {
            match k.strip_prefix("val_") {
                Some(rest) => val.push((format!("epoch_{rest}"), *v)),
                None => train.push((format!("epoch_{k}"), *v)),
            }
        }
        train.extend(
            state
                .model
                .zero_fractions()
                .into_iter()
                .map(|(k, v)| (format!("relu_zero_fraction/{k}"), v)),
        );
        if let Some(w) = self.train.as_mut() {
            w.scalars(
                step,
                &train.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(),
            )?;
            if self.histogram_freq > 0 && epoch.is_multiple_of(self.histogram_freq) {
                for p in state.model.param_refs() {
                    w.histogram(step, &format!("{}/histogram", p.name), p.value)?;
                }
            }
            w.flush()?;
        }
        if let Some(w) = self.validation.as_mut() {
            if !val.is_empty() {
                w.scalars(
                    step,
                    &val.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(),
                )?;
            }
            w.flush()?;
        }
        Ok(())
    }

    fn on_train_end(&mut self, _logs: &Logs, _state: &mut TrainState<'_>) -> Result<()> {
        for w in [self.train.as_mut(), self.validation.as_mut()]
            .into_iter()
            .flatten()
        {
            w.flush()?;
        }
        Ok(())
    }
}
