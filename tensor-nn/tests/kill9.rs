//! kill -9 during per-step backups: a training run that backs up after every step
//! (`BackupAndRestore` with `SaveFreq::Batches(1)`) is killed with SIGKILL at 20 seeded random
//! moments; after each kill the backup on disk loads completely, and the run resumed from it
//! (again and again) ends with the very weights of a run never interrupted.
//!
//! A `harness = false` test: under `cargo test` it is the launcher, and it runs itself as the
//! training child (`DIMFLOW_KILL9_DIR` set).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tensor_nn::io::atomic::write_atomic;
use tensor_nn::io::safetensors::{load_checkpoint, read_tensors};
use tensor_nn::train::{BackupAndRestore, SaveFreq, Trainer};
use tensor_nn::Model;

mod common;
use common::{blobs, dropout_classifier, quiet, weight_bits, Net};

const KILLS: usize = 20;
const EPOCHS: usize = 30;

fn fresh() -> Trainer<Net> {
    dropout_classifier(11)
}

/// The weights of the run, as bytes.
fn weight_bytes(t: &Trainer<Net>) -> Vec<u8> {
    weight_bits(t).iter().flat_map(|b| b.to_le_bytes()).collect()
}

/// The training child: fits with a backup after every step (resuming from one if present)
/// and writes its final weights to `dir/weights.bin`.
fn child(dir: &Path) -> ExitCode {
    let (x, y) = blobs(90, 0.9, 0.0);
    let mut t = fresh();
    let mut backup = BackupAndRestore::new(dir.join("backup")).with_save_freq(SaveFreq::Batches(1));
    if let Err(e) = t.fit(&x, &y, &quiet(EPOCHS), None, &mut [&mut backup]) {
        eprintln!("child: fit failed: {e}");
        return ExitCode::FAILURE;
    }
    match write_atomic(dir.join("weights.bin"), &weight_bytes(&t)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("child: {e}");
            ExitCode::FAILURE
        }
    }
}

fn spawn(dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .env("DIMFLOW_KILL9_DIR", dir)
        .spawn()
        .expect("start the training child")
}

/// After a kill: the backup, if one was written, reads and loads completely.
fn check_backup(dir: &Path) -> bool {
    let path = dir.join("backup/latest.safetensors");
    if !path.exists() {
        return false;
    }
    read_tensors(&path).unwrap_or_else(|e| panic!("the backup does not read after a kill: {e}"));
    let Trainer { model, optimizer, .. } = &mut fresh();
    load_checkpoint(&path, &mut model.params_mut(), optimizer)
        .unwrap_or_else(|e| panic!("the backup does not load after a kill: {e}"));
    true
}

fn launcher() {
    let (x, y) = blobs(90, 0.9, 0.0);
    let mut straight = fresh();
    straight
        .fit(&x, &y, &quiet(EPOCHS), None, &mut [])
        .expect("uninterrupted fit");
    let want = weight_bytes(&straight);

    let root: PathBuf = std::env::temp_dir().join(format!("tensor-nn-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    // How long one whole run takes here, to aim the kills inside runs.
    let start = Instant::now();
    let status = spawn(&root.join("timing")).wait().expect("wait");
    assert!(status.success(), "an uninterrupted child failed");
    let whole = start.elapsed();
    assert_eq!(
        std::fs::read(root.join("timing/weights.bin")).expect("weights"),
        want
    );
    println!("kill9: one uninterrupted run takes {whole:.2?}");

    let mut rng = ChaCha8Rng::seed_from_u64(0x0006_b119);
    let (mut kills, mut runs, mut loaded, mut finished) = (0, 0, 0, 0);
    let mut dir = root.join(format!("run{runs}"));
    while kills < KILLS {
        let mut c = spawn(&dir);
        let wait = whole.mul_f64(rng.gen_range(0.05..0.6));
        std::thread::sleep(wait);
        let killed = c.try_wait().expect("poll").is_none();
        if killed {
            c.kill().expect("SIGKILL the child");
        }
        let status = c.wait().expect("wait");
        if killed {
            kills += 1;
            loaded += usize::from(check_backup(&dir));
        } else {
            // The run finished before the kill: it must end where the uninterrupted one did.
            assert!(status.success(), "a training child failed: {status}");
            let got = std::fs::read(dir.join("weights.bin")).expect("weights");
            assert_eq!(got, want, "a run resumed after kills ends elsewhere");
            finished += 1;
            runs += 1;
            dir = root.join(format!("run{runs}"));
        }
    }
    // The last run, resumed until it completes.
    let status = spawn(&dir).wait().expect("wait");
    assert!(status.success(), "the last training child failed: {status}");
    let got = std::fs::read(dir.join("weights.bin")).expect("weights");
    assert_eq!(got, want, "the run resumed after kills ends elsewhere");
    finished += 1;
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("backup"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "files left behind by the killed writers: {leftovers:?}"
    );
    println!(
        "kill9: {kills} kills ({loaded} with a backup on disk, each loaded completely), \
         {finished} resumed runs ended bit for bit as the uninterrupted one"
    );
    let _ = std::fs::remove_dir_all(root);
}

fn main() -> ExitCode {
    if let Some(dir) = std::env::var_os("DIMFLOW_KILL9_DIR") {
        return child(Path::new(&dir));
    }
    launcher();
    ExitCode::SUCCESS
}
