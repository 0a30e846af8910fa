//! Data-parallel training on MPI (feature `mpi`): launches this same program under
//! `mpirun -np 2` (a `harness = false` test, so each MPI process runs `main` on its main thread
//! and initialises MPI once) and checks what the workers report.
//!
//! Run: `cargo test --features mpi --test distributed` (needs Open MPI; the launcher sets the
//! `OMPI_*` variables of docs/distributed.md for one machine unless they are set).
//!
//! - `equivalence`: 2 workers × batch 64 end, after 20 steps, with the weights (to 1e-5) of one
//!   process × batch 128 over the same examples, for a `model!` MLP (fused step) and a run-time
//!   `Sequential`; both workers hold identical weights; rank 1 starts from other weights, which
//!   the broadcast from rank 0 replaces.
//! - `crash`: rank 1 aborts at step 5; the job must end, non-zero, within seconds.
//! - `stall`: rank 1 stops itself (SIGSTOP) after step 5; with a collective timeout of 3 s
//!   (`DIMFLOW_COLLECTIVE_TIMEOUT_SECS`), rank 0 must end the job with an error naming the
//!   timeout and rank 1 well before the launcher's own deadline (which kills a hung job).
//! - `stall-builder`: the same with a timeout of 2 s from `with_collective_timeout` (the
//!   variable unset) and `with_abort_on_error(false)`: `fit` returns the timeout on rank 0, and
//!   dropping its strategy ends the job.
//! - `resume`: a checkpoint written by 2 workers after 10 steps, resumed by 1 process without
//!   MPI (and by 1 MPI worker) for 10 more steps, ends where 20 steps of one process end.

use std::process::{Command, ExitCode, Output};
use std::time::{Duration, Instant};

use dimflow::prelude::*;
use dimflow::tensor_nn::activations::Activation;
use dimflow::tensor_nn::distributed::{MpiStrategy, Strategy, COLLECTIVE_TIMEOUT_ENV};
use dimflow::tensor_nn::io::safetensors::load_checkpoint;
use dimflow::tensor_nn::losses::SparseCategoricalCrossentropy;
use dimflow::tensor_nn::metrics::SparseCategoricalAccuracy;
use dimflow::tensor_nn::optim::Optimizer;
use dimflow::tensor_nn::sequential::Sequential;
use dimflow::tensor_nn::train::callbacks::ModelCheckpoint;
use dimflow::tensor_nn::train::{Callback, Compile, FitConfig, Logs, TrainState, Trainer};
use dimflow::tensor_nn::{Model, NnError};

dims! { Batch; Features = 12; Classes = 4; }

type X = Tensor<(Batch, Features)>;
type Y = Tensor<(Batch,)>;

model! {
    /// The fused-step MLP under test.
    pub struct Mlp: [Batch, Features] -> [Batch, Classes] {
        Dense(Hidden = 16), Relu, Dense(Classes)
    }
}

const ROLE: &str = "DIMFLOW_MPI_TEST_ROLE";
const CKPT: &str = "DIMFLOW_MPI_TEST_CKPT";
/// The launcher kills a job still running after this long (a hung job fails instead of hanging).
const JOB_DEADLINE: Duration = Duration::from_secs(90);
/// Samples: 20 global batches of 128 plus a remainder.
const N: usize = 2600;

/// A test failure as an error.
fn fail(op: &'static str, reason: impl Into<String>) -> NnError {
    NnError::InvalidArgument {
        op,
        reason: reason.into(),
    }
}

/// A fixed, learnable 4-class problem: the class is the quadrant of (x0, x1).
fn data() -> (X, Y) {
    let x = X::from_fn(&[N], |i| {
        let h = (i[0] * 31 + i[1] * 17 + 7) % 101;
        h as f32 / 50.0 - 1.0
    });
    let v = x.to_vec();
    let labels = (0..N)
        .map(|i| {
            let (a, b) = (v[i * 12], v[i * 12 + 1]);
            f32::from(u8::from(a > 0.0)) * 2.0 + f32::from(u8::from(b > 0.0))
        })
        .collect();
    (x, Y::from_vec(labels, &[N]).expect("labels"))
}

fn sequential(seed: u64) -> impl Model<Input = X, Output = Tensor<(Batch, Classes)>> {
    Sequential::builder(12, seed)
        .dense(16, Activation::Relu)
        .dense(4, Activation::Linear)
        .build::<(Batch, Features), (Batch, Classes)>()
        .expect("sequential model")
}

fn compile<M: Model<Input = X, Output = Tensor<(Batch, Classes)>>>(model: M) -> Trainer<M> {
    model.compile(
        Optimizer::adam(0.01),
        SparseCategoricalCrossentropy::from_logits(),
        vec![Box::new(SparseCategoricalAccuracy::default())],
    )
}

fn config(batch_size: usize, epochs: usize, steps: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size,
        steps_per_epoch: Some(steps),
        shuffle: true,
        seed: 5,
        verbose: 0,
        ..FitConfig::default()
    }
}

fn weights<M: Model>(m: &M) -> Vec<f32> {
    m.params().iter().flat_map(|p| p.value.iter().copied()).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The largest difference between this worker's `w` and any other worker's: with identical
/// weights everywhere, the sum over workers is exactly `world × w` (f64 sums of equal f32s).
fn max_spread(strategy: &mut dyn Strategy, w: &[f32]) -> Result<f64, NnError> {
    let mut sum: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
    strategy.all_reduce_sum(&mut sum)?;
    let world = strategy.world_size() as f64;
    let mine = w
        .iter()
        .zip(&sum)
        .map(|(&v, s)| (s - world * f64::from(v)).abs())
        .fold(0.0, f64::max);
    let mut worst = vec![0.0; strategy.world_size()];
    worst[strategy.rank()] = mine;
    strategy.all_reduce_sum(&mut worst)?;
    Ok(worst.into_iter().fold(0.0, f64::max))
}

/// One model kind: distributed fit (batch 64 per worker) against a local fit (batch 128).
fn check<M: Model<Input = X, Output = Tensor<(Batch, Classes)>>>(
    name: &str,
    make: impl Fn(u64) -> M,
    strategy: Box<dyn Strategy>,
) -> Result<Box<dyn Strategy>, NnError> {
    let (x, y) = data();
    let rank = strategy.rank();
    // Rank 1 starts from other weights: the broadcast must replace them with rank 0's.
    let mut dist = compile(make(7 + rank as u64)).with_strategy(strategy);
    let history = dist.fit(&x, &y, &config(64, 1, 20), None, &mut [])?;
    let mut local = compile(make(7));
    let local_history = local.fit(&x, &y, &config(128, 1, 20), None, &mut [])?;
    let (wd, wl) = (weights(&dist.model), weights(&local.model));
    let diff = max_diff(&wd, &wl);
    let moved = max_diff(&wl, &weights(&make(7)));
    let mut strategy = dist.take_strategy().expect("the trainer holds the strategy");
    let spread = max_spread(&mut *strategy, &wd)?;
    let (dl, ll) = (history.history["loss"][0], local_history.history["loss"][0]);
    println!(
        "CHECK {name} rank {rank}: max |w(2x64) - w(1x128)| = {diff:e}, spread between workers = \
         {spread:e}, weights moved {moved:e}, epoch loss {dl} vs {ll}"
    );
    if diff > 1e-5 || spread != 0.0 || moved < 1e-2 || (dl - ll).abs() > 1e-4 {
        return Err(fail("distributed test", format!("{name}: mismatch")));
    }
    println!("OK {name} rank {rank}");
    Ok(strategy)
}

fn equivalence() -> Result<(), NnError> {
    let strategy: Box<dyn Strategy> = Box::new(MpiStrategy::init()?);
    println!("rank {} world size {}", strategy.rank(), strategy.world_size());
    let strategy = check("model!", Mlp::new, strategy)?;
    check("Sequential", sequential, strategy)?;
    Ok(())
}

/// On rank 1 after its 5th step: dies (SIGABRT) or makes `fit` fail; rank 0 would train for
/// minutes.
struct DieAt {
    step: usize,
    abort: bool,
}

impl Callback for DieAt {
    fn on_train_batch_end(&mut self, step: usize, _: &Logs, _: &mut TrainState<'_>) -> Result<(), NnError> {
        if step == self.step && self.abort {
            println!("rank 1: dying at step {step}");
            std::process::abort();
        }
        if step == self.step {
            println!("rank 1: failing at step {step}");
            return Err(fail("DieAt", "a callback failed on rank 1"));
        }
        Ok(())
    }
}

/// On rank 1 after its 5th step: stops this process (SIGSTOP), as a hung worker would; rank 0
/// then waits in its next collective.
struct StopAt(usize);

impl Callback for StopAt {
    fn on_train_batch_end(&mut self, step: usize, _: &Logs, _: &mut TrainState<'_>) -> Result<(), NnError> {
        if step == self.0 {
            println!("rank 1: stopping itself at step {step}");
            let pid = std::process::id().to_string();
            Command::new("kill")
                .args(["-STOP", &pid])
                .status()
                .map_err(|e| fail("StopAt", format!("kill -STOP: {e}")))?;
        }
        Ok(())
    }
}

/// Rank 1 stops at step 5. With `builder`, the timeout (2 s) comes from
/// `with_collective_timeout` and `fit` returns its error instead of aborting the job; dropping
/// the strategy then ends the job.
fn stall(builder: bool) -> Result<(), NnError> {
    let mut strategy = MpiStrategy::init()?;
    if builder {
        strategy = strategy
            .with_collective_timeout(Duration::from_secs(2))
            .with_abort_on_error(false);
    }
    let rank = strategy.rank();
    let (x, y) = data();
    let mut t = compile(Mlp::new(7)).with_strategy(strategy);
    let mut stop = StopAt(5);
    let callbacks: &mut [&mut dyn Callback] = if rank == 1 { &mut [&mut stop] } else { &mut [] };
    if let Err(e) = t.fit(&x, &y, &config(64, 1_000_000, 20), None, callbacks) {
        eprintln!("rank {rank}: fit returned: {e}");
        return Err(e);
    }
    println!("rank {rank}: finished training (the stall was not noticed)");
    Ok(())
}

fn crash(abort: bool) -> Result<(), NnError> {
    let strategy = MpiStrategy::init()?;
    let rank = strategy.rank();
    let (x, y) = data();
    let mut t = compile(Mlp::new(7)).with_strategy(strategy);
    let mut die = DieAt { step: 5, abort };
    let callbacks: &mut [&mut dyn Callback] = if rank == 1 { &mut [&mut die] } else { &mut [] };
    t.fit(&x, &y, &config(64, 1_000_000, 20), None, callbacks)?;
    println!("rank {rank}: finished training (the crash was not noticed)");
    Ok(())
}

/// Two epochs of 10 steps: the first by 2 workers (writing a checkpoint on the chief), the
/// second resumed from it by this process alone, without or with (`mpi`) a strategy.
fn resume(first_half: bool, mpi: bool) -> Result<(), NnError> {
    let path = std::env::var(CKPT).map_err(|_| fail("resume", "no checkpoint path"))?;
    let (x, y) = data();
    if first_half {
        let strategy = MpiStrategy::init()?;
        let chief = strategy.is_chief();
        let mut t = compile(Mlp::new(7)).with_strategy(strategy);
        let mut ckpt = ModelCheckpoint::new(path);
        let callbacks: &mut [&mut dyn Callback] = if chief { &mut [&mut ckpt] } else { &mut [] };
        t.fit(&x, &y, &config(64, 1, 10), None, callbacks)?;
        return Ok(());
    }
    let mut t = compile(Mlp::new(99));
    let info = load_checkpoint(&path, &mut t.model.params_mut(), &mut t.optimizer)?;
    if mpi {
        let strategy = MpiStrategy::init()?;
        println!("resume: world size {}", strategy.world_size());
        t = t.with_strategy(strategy);
    }
    let cfg = FitConfig {
        initial_epoch: info.epoch,
        ..config(128, 2, 10)
    };
    t.fit(&x, &y, &cfg, None, &mut [])?;
    let mut reference = compile(Mlp::new(7));
    reference.fit(&x, &y, &config(128, 2, 10), None, &mut [])?;
    let diff = max_diff(&weights(&t.model), &weights(&reference.model));
    println!(
        "RESUME from epoch {}: max |w(resumed) - w(1 process, 20 steps)| = {diff:e}",
        info.epoch
    );
    if diff > 1e-5 || info.epoch != 1 {
        return Err(fail("resume", "the resumed run diverged"));
    }
    println!("OK resume");
    Ok(())
}

fn worker(role: &str) -> ExitCode {
    let result = match role {
        "equivalence" => equivalence(),
        "crash" => crash(true),
        "error" => crash(false),
        "stall" => stall(false),
        "stall-builder" => stall(true),
        "resume-first" => resume(true, false),
        "resume-single" => resume(false, false),
        "resume-mpi" => resume(false, true),
        other => Err(fail("distributed test", format!("unknown role {other}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs this program with `role`, under `mpirun -np <np>` when `np` is given, with the extra
/// environment `env`; a job still running after [`JOB_DEADLINE`] is terminated (SIGTERM to
/// `mpirun`, which ends its ranks, then SIGKILL) and reported as killed.
fn launch(role: &str, np: Option<usize>, ckpt: &str, env: &[(&str, &str)]) -> (Output, Duration, bool) {
    let exe = std::env::current_exe().expect("test executable");
    let mut cmd = match np {
        Some(np) => {
            let mut c = Command::new("mpirun");
            c.args(["-np", &np.to_string()]).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.env(ROLE, role).env(CKPT, ckpt).envs(env.iter().copied());
    // One machine, loopback and shared memory, no pinning of each rank to one core, as root in
    // CI containers; a variable already set wins.
    for (k, v) in [
        ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
        ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
        ("OMPI_MCA_btl", "self,vader"),
        ("OMPI_MCA_pml", "ob1"),
        ("OMPI_MCA_oob_tcp_if_include", "lo"),
        ("OMPI_MCA_hwloc_base_binding_policy", "none"),
        ("HWLOC_COMPONENTS", "-gl"),
    ] {
        if std::env::var_os(k).is_none() {
            cmd.env(k, v);
        }
    }
    let started = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("could not start mpirun: install Open MPI (see docs/distributed.md)");
    let pid = child.id().to_string();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(JOB_DEADLINE).is_ok() {
            return false;
        }
        for signal in ["-TERM", "-KILL"] {
            let _ = Command::new("kill").args([signal, &pid]).status();
            if finished.recv_timeout(Duration::from_secs(10)).is_ok() {
                break;
            }
        }
        true
    });
    let out = child.wait_with_output().expect("waiting for the job");
    let elapsed = started.elapsed();
    let _ = done.send(());
    let killed = watchdog.join().expect("watchdog thread");
    println!(
        "--- {role} (np {np:?}): {:?} in {elapsed:.2?}{}\n{}{}",
        out.status,
        if killed {
            " (killed: past the deadline)"
        } else {
            ""
        },
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, elapsed, killed)
}

/// Launches a stall `role` with `env` and checks that the job ended, failing, within 30 s and
/// before the launcher's deadline; that rank 1 stopped itself and was named as not answering;
/// and that stderr holds every `needle` and no `forbidden` text.
fn check_stall(
    failures: &mut Vec<String>,
    role: &str,
    ckpt: &str,
    env: &[(&str, &str)],
    needles: &[&str],
    forbidden: &[&str],
) {
    let (out, elapsed, killed) = launch(role, Some(2), ckpt, env);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let missing: Vec<&str> = needles
        .iter()
        .chain(&["worker 1 did not answer"])
        .copied()
        .filter(|n| !stderr.contains(n))
        .collect();
    let present: Vec<&str> = forbidden.iter().copied().filter(|f| stderr.contains(f)).collect();
    if killed
        || out.status.success()
        || stdout.contains("finished training")
        || !stdout.contains("stopping itself at step 5")
        || !missing.is_empty()
        || !present.is_empty()
    {
        failures.push(format!(
            "{role}: the job did not end with a timeout naming worker 1 ({:?}{}; missing from \
             stderr: {missing:?}; present: {present:?})",
            out.status,
            if killed {
                ", killed by the test's deadline"
            } else {
                ""
            }
        ));
    }
    if elapsed > Duration::from_secs(30) {
        failures.push(format!("{role}: the job took {elapsed:?} to stop"));
    }
}

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(ROLE) {
        return worker(&role);
    }
    // Under `cargo test` (no role): the launcher. libtest flags such as `--nocapture` are ignored.
    let tmp = std::env::temp_dir().join(format!("dimflow-mpi-test-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let ckpt = tmp.join("ckpt.safetensors").to_string_lossy().into_owned();
    let mut failures = Vec::new();

    let (out, _, _) = launch("equivalence", Some(2), &ckpt, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "rank 0 world size 2",
        "rank 1 world size 2",
        "OK model! rank 0",
        "OK model! rank 1",
        "OK Sequential rank 0",
        "OK Sequential rank 1",
    ] {
        if !out.status.success() || !stdout.contains(needle) {
            failures.push(format!(
                "equivalence: missing `{needle}` (status {:?})",
                out.status
            ));
        }
    }

    let (out, elapsed, _) = launch("crash", Some(2), &ckpt, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() || stdout.contains("finished training") || !stdout.contains("dying at step 5") {
        failures.push(format!(
            "crash: the job did not fail as expected ({:?})",
            out.status
        ));
    }
    if elapsed > Duration::from_secs(20) {
        failures.push(format!("crash: the job took {elapsed:?} to stop"));
    }

    let (out, elapsed, _) = launch("error", Some(2), &ckpt, &[]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    if out.status.success()
        || stdout.contains("finished training")
        || !stdout.contains("failing at step 5")
        || !stderr.contains("dimflow: worker 1 of 2: fit failed: ")
        || !stderr.contains("DieAt: invalid argument: a callback failed on rank 1; aborting the MPI job")
    {
        failures.push(format!(
            "error: the job did not abort as expected ({:?})",
            out.status
        ));
    }
    if elapsed > Duration::from_secs(20) {
        failures.push(format!("error: the job took {elapsed:?} to stop"));
    }

    // Rank 1 stops (SIGSTOP) after step 5: rank 0 must give up after the 3 s timeout (plus up to
    // 3 s waiting for the census of the workers), report the timeout and rank 1, and end the job.
    check_stall(
        &mut failures,
        "stall",
        &ckpt,
        &[(COLLECTIVE_TIMEOUT_ENV, "3")],
        &[
            "dimflow: worker 0 of 2: fit failed: collective timeout: ",
            "did not complete on worker 0 of 2 within 3s",
        ],
        &[],
    );
    // The same, the timeout set by the builder, the error returned: the job ends when rank 0
    // drops its strategy (finalising MPI would wait for rank 1 forever).
    check_stall(
        &mut failures,
        "stall-builder",
        &ckpt,
        &[],
        &[
            "rank 0: fit returned: collective timeout: ",
            "did not complete on worker 0 of 2 within 2s",
            "aborting the MPI job instead of finalising MPI",
        ],
        &["fit failed"],
    );

    let (first, _, _) = launch("resume-first", Some(2), &ckpt, &[]);
    let (single, _, _) = launch("resume-single", None, &ckpt, &[]);
    let (one, _, _) = launch("resume-mpi", Some(1), &ckpt, &[]);
    for (name, out) in [
        ("resume-first", &first),
        ("resume-single", &single),
        ("resume-mpi", &one),
    ] {
        if !out.status.success() {
            failures.push(format!("{name}: {:?}", out.status));
        }
    }
    if !String::from_utf8_lossy(&one.stdout).contains("resume: world size 1") {
        failures.push("resume-mpi: not a world of 1".into());
    }
    let _ = std::fs::remove_dir_all(&tmp);
    if failures.is_empty() {
        println!("test distributed ... ok");
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        ExitCode::FAILURE
    }
}
