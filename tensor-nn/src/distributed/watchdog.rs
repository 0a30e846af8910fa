//! The arrival check in front of every collective of [`Communicator`](super::Communicator).
//!
//! MPI collectives have no timeout, so a worker that stops without dying (SIGSTOP, a deadlock,
//! a machine that drops off the network) keeps the others waiting forever; `mpirun` only
//! notices workers that exit. So before each collective every worker posts a non-blocking
//! barrier (`MPI_Ibarrier`) and polls it. Once it completes, every worker has entered the
//! collective and the blocking MPI call that follows finds them all. A worker still waiting
//! when its timeout passes takes a census: it asks every other worker, over point-to-point
//! messages, which collective it is in; workers waiting in this loop answer at once, so the
//! workers that do not answer are the stalled ones.

use std::time::{Duration, Instant};

use mpi::collective::CommunicatorCollectives;
use mpi::point_to_point::{Destination, Source};
use mpi::request::StaticScope;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::Tag;

/// Tag of a census request on `MPI_COMM_WORLD` (reserved; below 32767, the smallest tag limit
/// MPI allows).
const CENSUS_TAG: Tag = 32_001;
/// Tag of a census answer: the number of the collective the answering worker waits in.
const ANSWER_TAG: Tag = 32_002;
/// The payload of a census request. `static`, so that a request still in flight when the job
/// ends borrows nothing that could be freed.
static REQUEST: u64 = 0;
/// Polls of the barrier between two looks at the clock and at census requests.
const SPINS: u32 = 64;
/// After waiting this long, the wait is an imbalance between workers rather than the
/// transport: the loop then answers census requests and yields the core between polls.
const YIELD_AFTER: Duration = Duration::from_millis(1);

/// How long a census waits for answers: the collective timeout, but at least 1 s (a waiting
/// worker answers within microseconds; 1 s covers a loaded machine) and at most 10 s.
fn census_window(timeout: Duration) -> Duration {
    timeout.clamp(Duration::from_secs(1), Duration::from_secs(10))
}

/// Waits until every worker of `world` has entered collective number `collective` (each
/// worker counts its collectives from 1), answering the other workers' census requests
/// meanwhile; with no `timeout`, waits as long as it takes.
///
/// # Errors
/// When `timeout` passes first: what a census of the workers found, as a sentence naming the
/// workers that did not answer. The barrier of this collective then stays pending (MPI cannot
/// cancel it), so no collective may follow on this worker.
pub(crate) fn arrive(
    world: &SimpleCommunicator,
    collective: u64,
    timeout: Option<Duration>,
) -> Result<(), String> {
    let started = Instant::now();
    let mut barrier = world.immediate_barrier();
    loop {
        for _ in 0..SPINS {
            match barrier.test() {
                Ok(_) => return Ok(()),
                Err(pending) => barrier = pending,
            }
        }
        let waited = started.elapsed();
        if waited < YIELD_AFTER {
            continue;
        }
        answer_census(world, collective);
        if let Some(timeout) = timeout.filter(|&t| waited >= t) {
            // Dropping a pending request panics; forgetting this one is sound: it has the
            // static scope and no buffer, so MPI holds no pointer into this process's data.
            std::mem::forget(barrier);
            return Err(census(world, collective, census_window(timeout)));
        }
        std::thread::yield_now();
    }
}

/// Answers every census request that has arrived with the number of the collective this
/// worker waits in.
fn answer_census(world: &SimpleCommunicator, collective: u64) {
    while let Some((message, status)) = world.any_process().immediate_matched_probe_with_tag(CENSUS_TAG) {
        let _request: (u64, _) = message.matched_receive();
        // A blocking send of 8 bytes: MPI sends it eagerly, and the asker is polling for it.
        world
            .process_at_rank(status.source_rank())
            .send_with_tag(&collective, ANSWER_TAG);
    }
}

/// Asks every other worker which collective it waits in, collects the answers for up to
/// `window` and describes the result.
fn census(world: &SimpleCommunicator, collective: u64, window: Duration) -> String {
    let me = world.rank();
    let sends: Vec<_> = (0..world.size())
        .filter(|&r| r != me)
        .map(|r| {
            world
                .process_at_rank(r)
                .immediate_send_with_tag(StaticScope, &REQUEST, CENSUS_TAG)
        })
        .collect();
    let mut answers: Vec<Option<u64>> = vec![None; usize::try_from(world.size()).unwrap_or(0)];
    let mut missing = sends.len();
    let started = Instant::now();
    while missing > 0 && started.elapsed() < window {
        // Another worker that timed out at the same time asks too.
        answer_census(world, collective);
        while let Some((message, status)) = world.any_process().immediate_matched_probe_with_tag(ANSWER_TAG) {
            let (theirs, _): (u64, _) = message.matched_receive();
            let slot = usize::try_from(status.source_rank())
                .ok()
                .and_then(|r| answers.get_mut(r));
            if let Some(slot) = slot {
                missing -= usize::from(slot.is_none());
                *slot = Some(theirs);
            }
        }
        std::thread::yield_now();
    }
    for send in sends {
        if let Err(pending) = send.test() {
            // Sound to forget: the request only borrows the `static` REQUEST.
            std::mem::forget(pending);
        }
    }
    let me = usize::try_from(me).unwrap_or(usize::MAX);
    describe(&answers, me, collective, window)
}

/// The census as a sentence: who did not answer, who waits in the same collective, who
/// answered from another one. `answers[me]` is ignored.
fn describe(answers: &[Option<u64>], me: usize, collective: u64, window: Duration) -> String {
    let others = || answers.iter().enumerate().filter(move |&(r, _)| r != me);
    let silent: Vec<usize> = others().filter(|(_, a)| a.is_none()).map(|(r, _)| r).collect();
    let waiting: Vec<usize> = others()
        .filter(|&(_, &a)| a == Some(collective))
        .map(|(r, _)| r)
        .collect();
    let mut parts = Vec::new();
    if silent.is_empty() {
        parts.push(format!(
            "every worker answered within {window:?}, so the collective was slow rather than stuck"
        ));
    } else {
        parts.push(format!(
            "{} did not answer within {window:?} (stopped, hung or unreachable)",
            workers(&silent)
        ));
    }
    if !waiting.is_empty() {
        let verb = if waiting.len() == 1 { "is" } else { "are" };
        parts.push(format!("{} {verb} waiting in it too", workers(&waiting)));
    }
    for (r, theirs) in others().filter_map(|(r, a)| a.filter(|&a| a != collective).map(|a| (r, a))) {
        parts.push(format!("worker {r} answered from its collective #{theirs}"));
    }
    parts.push(format!("it was collective #{collective} of this worker"));
    parts.join("; ")
}

/// "worker 3" or "workers 1, 2".
fn workers(ranks: &[usize]) -> String {
    let list: Vec<String> = ranks.iter().map(usize::to_string).collect();
    match ranks {
        [_] => format!("worker {}", list[0]),
        _ => format!("workers {}", list.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn census_names_the_silent_and_the_waiting_workers() {
        let window = Duration::from_secs(3);
        let answers = [None, None, Some(7), Some(7), Some(6)];
        assert_eq!(
            describe(&answers, 0, 7, window),
            "worker 1 did not answer within 3s (stopped, hung or unreachable); workers 2, 3 are \
             waiting in it too; worker 4 answered from its collective #6; it was collective #7 \
             of this worker"
        );
        assert_eq!(
            describe(&[Some(2), None, None], 2, 2, window),
            "worker 1 did not answer within 3s (stopped, hung or unreachable); worker 0 is \
             waiting in it too; it was collective #2 of this worker"
        );
        assert_eq!(
            describe(&[Some(5), None], 1, 5, window),
            "every worker answered within 3s, so the collective was slow rather than stuck; \
             worker 0 is waiting in it too; it was collective #5 of this worker"
        );
    }

    #[test]
    fn census_window_is_the_timeout_within_1_to_10_seconds() {
        let s = Duration::from_secs;
        assert_eq!(census_window(Duration::from_millis(10)), s(1));
        assert_eq!(census_window(s(3)), s(3));
        assert_eq!(census_window(s(300)), s(10));
    }
}
