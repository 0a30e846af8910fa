//! Time per gradient all-reduce over MPI, in place and out of place, for the gradients of the
//! small MLP (784-128-10: 101,770 values) and the large one (784-1024-1024-10: 1,863,690 values).
//! Build with `cargo bench -p tensor-nn --features mpi --bench mpi_allreduce --no-run`, then run
//! the printed executable under `mpirun -np 2` (see docs/distributed.md); rank 0 prints the
//! median and the best of 200 timed all-reduces after 20 warm-up ones.

use std::time::Instant;

use tensor_nn::distributed::Communicator;

fn time_all_reduce(comm: &mut Communicator, values: usize, in_place: bool) -> (f64, f64) {
    comm.set_in_place(in_place);
    let mut buf: Vec<f32> = (0..values).map(|i| (i % 7) as f32).collect();
    let mut times = Vec::new();
    for i in 0..220 {
        comm.barrier();
        let t = Instant::now();
        comm.all_reduce_sum(&mut buf).expect("all-reduce");
        if i >= 20 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        // Keep the values bounded (sums of sums would overflow to inf after ~100 rounds).
        buf.iter_mut().for_each(|v| *v *= 0.5);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

fn main() {
    // `cargo bench` passes `--bench`: ignore arguments.
    let mut comm = Communicator::init().expect("MPI init");
    for (name, values) in [
        ("small MLP 784-128-10", 101_770),
        ("large MLP 784-1024-1024-10", 1_863_690),
    ] {
        for in_place in [true, false] {
            let (median, best) = time_all_reduce(&mut comm, values, in_place);
            if comm.rank() == 0 {
                println!(
                    "{} ranks, {name} ({values} f32), {}: median {median:.3} ms, best {best:.3} ms",
                    comm.size(),
                    if in_place { "in place    " } else { "out of place" }
                );
            }
        }
    }
}
