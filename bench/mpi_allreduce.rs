//! Time per gradient all-reduce over MPI for the gradients of the small MLP (784-128-10: 101,770
//! values) and the large one (784-1024-1024-10: 1,863,690 values), plus a log-sized one (4
//! values): `Communicator::all_reduce_sum` in place and out of place, each behind its arrival
//! check (the non-blocking barrier that gives collectives their timeout), against the bare
//! `MPI_Allreduce` out of place (what the out-of-place call was before the check), in the same
//! run, interleaved round by round so that both variants see the same load.
//! Build with `cargo bench -p tensor-nn --features mpi --bench mpi_allreduce --no-run`, then run
//! the printed executable under `mpirun -np 2` (see docs/distributed.md); rank 0 prints the
//! median and the best of 200 timed all-reduces per variant after 20 warm-up ones.

use std::time::Instant;

use mpi::collective::{CommunicatorCollectives, SystemOperation};
use mpi::topology::SimpleCommunicator;
use tensor_nn::distributed::Communicator;

/// The variants timed.
#[derive(Clone, Copy)]
enum Variant {
    /// `Communicator::all_reduce_sum` in place (arrival check + in-place `MPI_Allreduce`).
    InPlace,
    /// `Communicator::all_reduce_sum` out of place (arrival check + `MPI_Allreduce`).
    OutOfPlace,
    /// A bare out-of-place `MPI_Allreduce`: no arrival check, no timeout.
    Bare,
}

const VARIANTS: [(Variant, &str); 3] = [
    (Variant::InPlace, "checked, in place    "),
    (Variant::OutOfPlace, "checked, out of place"),
    (Variant::Bare, "bare MPI, out of place"),
];

fn run(comm: &mut Communicator, variant: Variant, buf: &mut [f32], scratch: &mut Vec<f32>) {
    match variant {
        Variant::InPlace | Variant::OutOfPlace => {
            comm.set_in_place(matches!(variant, Variant::InPlace));
            comm.all_reduce_sum(buf).expect("all-reduce");
        }
        Variant::Bare => {
            scratch.clear();
            scratch.extend_from_slice(buf);
            SimpleCommunicator::world().all_reduce_into(&scratch[..], buf, SystemOperation::sum());
        }
    }
}

/// (median, best) in ms per variant, in the order of [`VARIANTS`].
fn time_all_reduce(comm: &mut Communicator, values: usize) -> Vec<(f64, f64)> {
    let mut buf: Vec<f32> = (0..values).map(|i| (i % 7) as f32).collect();
    let mut scratch = Vec::new();
    let mut times = vec![Vec::new(); VARIANTS.len()];
    for i in 0..220 {
        for (times, &(variant, _)) in times.iter_mut().zip(&VARIANTS) {
            comm.barrier().expect("barrier");
            let t = Instant::now();
            run(comm, variant, &mut buf, &mut scratch);
            if i >= 20 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            // Keep the values bounded (sums of sums would overflow to inf after ~100 rounds).
            buf.iter_mut().for_each(|v| *v *= 0.5);
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            (t[t.len() / 2], t[0])
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`: ignore arguments.
    let mut comm = Communicator::init().expect("MPI init");
    for (name, values) in [
        ("logs", 4),
        ("small MLP 784-128-10", 101_770),
        ("large MLP 784-1024-1024-10", 1_863_690),
    ] {
        let results = time_all_reduce(&mut comm, values);
        if comm.rank() == 0 {
            for ((median, best), (_, label)) in results.into_iter().zip(VARIANTS) {
                println!(
                    "{} ranks, {name} ({values} f32), {label}: median {median:.4} ms, best {best:.4} ms",
                    comm.size()
                );
            }
        }
    }
}
