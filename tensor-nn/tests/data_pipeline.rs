//! The Dataset stages against hand-derived element sequences (and the `tf.data` documentation's
//! interleave example).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tensor_core::Tensor;
use tensor_nn::data::{
    from_tensor_slices, list_files, stack_rows, text_lines, DataError, Dataset, ErrorPolicy, FileOrder,
    Repeat,
};

tensor_macros::dims! { crate = ::tensor_core; Batch; F = 2; }

fn epoch<T: Send + 'static>(ds: &Dataset<T>) -> Vec<T> {
    ds.collect_vec().expect("epoch")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dimflow-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn batch_take_skip_shard() {
    let r = Dataset::range(0, 7);
    assert_eq!(epoch(&r.batch(3, true)), vec![vec![0, 1, 2], vec![3, 4, 5]]);
    assert_eq!(
        epoch(&r.batch(3, false)),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
    );
    assert_eq!(epoch(&Dataset::range(0, 10).skip(3).take(4)), vec![3, 4, 5, 6]);
    assert_eq!(epoch(&Dataset::range(0, 10).shard(3, 1)), vec![1, 4, 7]);
    assert!(Dataset::range(0, 10).shard(3, 3).iter().is_err());
    assert!(matches!(
        r.batch(0, false).iter(),
        Err(DataError::Argument { op: "batch", .. })
    ));
    // A huge batch size is just one short batch, not an allocation failure.
    assert_eq!(
        epoch(&r.batch(usize::MAX, false)),
        vec![(0..7).collect::<Vec<_>>()]
    );
}

#[test]
fn repeat_counts_and_forever() {
    let r = Dataset::range(0, 3);
    assert_eq!(epoch(&r.repeat(2)), vec![0, 1, 2, 0, 1, 2]);
    assert_eq!(
        epoch(&r.repeat(Repeat::Forever).take(7)),
        vec![0, 1, 2, 0, 1, 2, 0]
    );
    // Repeating an empty dataset forever ends instead of spinning.
    assert!(epoch(&Dataset::range(0, 0).repeat(Repeat::Forever)).is_empty());
}

#[test]
fn shuffle_is_a_seeded_permutation() {
    let r = Dataset::range(0, 100);
    let s = r.shuffle(100, 7, true);
    let a = epoch(&s);
    let b = epoch(&s);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    assert_ne!(a, (0..100).collect::<Vec<_>>());
    // A new epoch reshuffles; the same seed on a fresh recipe replays the same epochs.
    assert_ne!(a, b);
    let again = r.shuffle(100, 7, true);
    assert_eq!(epoch(&again), a);
    assert_eq!(epoch(&again), b);
    // Without reshuffling every epoch has the same order.
    let fixed = r.shuffle(100, 7, false);
    assert_eq!(epoch(&fixed), epoch(&fixed));
    // A buffer of one cannot reorder anything.
    assert_eq!(epoch(&r.shuffle(1, 7, true)), (0..100).collect::<Vec<_>>());
    // With a buffer of 10, the element output at position p was read by then: x <= p + 9.
    let local = epoch(&r.shuffle(10, 3, true));
    for (pos, &x) in local.iter().enumerate() {
        assert!(x as usize <= pos + 9, "{x} came out at {pos}");
    }
}

#[test]
fn interleave_matches_the_tf_data_documentation() {
    // tf.data.Dataset.interleave docs: range(1, 6).interleave(lambda x: from_tensors(x).repeat(6),
    // cycle_length=2, block_length=4).
    let expected = vec![
        1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 4, 4, 5, 5, 5, 5, 5, 5,
    ];
    let make = |x: i64| Dataset::from_tensors(x).repeat(6);
    assert_eq!(epoch(&Dataset::range(1, 6).interleave(make, 2, 4)), expected);
    assert_eq!(
        epoch(&Dataset::range(1, 6).interleave_parallel(make, 2, 4, 3)),
        expected
    );
    let flat = Dataset::range(1, 4).flat_map(|x| Dataset::from_vec(vec![x; x as usize]));
    assert_eq!(epoch(&flat), vec![1, 2, 2, 3, 3, 3]);
}

#[test]
fn parallel_map_keeps_order_and_prefetch_keeps_elements() {
    let r = Dataset::range(0, 1000);
    let seq = epoch(&r.map(|x| x * x));
    assert_eq!(epoch(&r.map_parallel(|x| x * x, 4)), seq);
    assert_eq!(epoch(&r.map(|x| x * x).prefetch(3)), seq);
    assert_eq!(seq[999], 998_001);
}

#[test]
fn prefetch_overlaps_producer_and_consumer() {
    // 20 elements, 10 ms to produce each and 10 ms to consume each: 400 ms in sequence,
    // about 210 ms overlapped (sleeps need no CPU, so this holds on a busy machine).
    let slow = Dataset::range(0, 20).map(|x| {
        std::thread::sleep(Duration::from_millis(10));
        x
    });
    let run = |ds: &Dataset<i64>| {
        let t0 = Instant::now();
        for x in ds.iter().unwrap() {
            x.unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
        t0.elapsed()
    };
    let sequential = run(&slow);
    let overlapped = run(&slow.prefetch(4));
    assert!(sequential >= Duration::from_millis(400), "{sequential:?}");
    assert!(
        // Relative, so that late wake-ups on a loaded machine (which stretch both runs) do not
        // matter: ideal ratio 210 / 400 ≈ 0.53.
        overlapped.as_secs_f64() < 0.75 * sequential.as_secs_f64(),
        "{overlapped:?} vs {sequential:?}"
    );
}

#[test]
fn cache_in_memory_and_in_a_file() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let counted = Dataset::range(0, 5).map(move |x| {
        c.fetch_add(1, Ordering::SeqCst);
        x + 1
    });
    let cached = counted.cache();
    assert_eq!(epoch(&cached), vec![1, 2, 3, 4, 5]);
    assert_eq!(epoch(&cached), vec![1, 2, 3, 4, 5]);
    assert_eq!(calls.load(Ordering::SeqCst), 5);

    let dir = temp_dir("cache");
    let path = dir.join("cache.jsonl");
    let on_disk = counted.cache_file(&path);
    assert_eq!(epoch(&on_disk), vec![1, 2, 3, 4, 5]);
    assert_eq!(calls.load(Ordering::SeqCst), 10);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n2\n3\n4\n5\n");
    // A later pipeline (or process) reads the file without running the stages above.
    assert_eq!(epoch(&counted.cache_file(&path)), vec![1, 2, 3, 4, 5]);
    assert_eq!(calls.load(Ordering::SeqCst), 10);
    // An abandoned first epoch leaves no cache file.
    let partial = dir.join("partial.jsonl");
    let ds = counted.cache_file(&partial);
    let mut it = ds.iter().unwrap();
    it.next();
    drop(it);
    assert!(!partial.exists());
}

fn failing_at_three() -> Dataset<i64> {
    Dataset::range(0, 7).try_map(|x| {
        if x == 3 {
            Err(DataError::User(format!("bad element {x}")))
        } else {
            Ok(x)
        }
    })
}

#[test]
fn error_policies_fail_or_skip_and_count() {
    let ds = failing_at_three();
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert_eq!(items.len(), 4);
    assert_eq!(items[3], Err(DataError::User("bad element 3".into())));
    assert_eq!(ds.error_policy(), ErrorPolicy::Fail);

    let skip = failing_at_three().batch(3, false).skip_errors();
    let mut it = skip.iter().unwrap();
    let batches: Vec<Vec<i64>> = it.by_ref().map(Result::unwrap).collect();
    // Only the bad element is lost; the batch around it keeps filling.
    assert_eq!(batches, vec![vec![0, 1, 2], vec![4, 5, 6]]);
    assert_eq!(it.skipped(), 1);
    assert_eq!(it.first_skipped(), Some(&DataError::User("bad element 3".into())));
    drop(it);
    let _ = epoch(&skip);
    assert_eq!(skip.skipped_per_epoch(), vec![1, 1]);
    // A branch from the same source keeps its own epoch log.
    let branch = failing_at_three().skip_errors();
    let _ = epoch(&branch.take(2));
    assert_eq!(branch.skipped_per_epoch(), Vec::<usize>::new());
}

#[test]
fn tensor_slices_and_stacking() {
    let x = Tensor::<(Batch, F)>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[3]).unwrap();
    let y = Tensor::<(Batch,)>::from_vec(vec![0., 1., 0.], &[3]).unwrap();
    let rows = epoch(&from_tensor_slices((x.clone(), y.clone())).unwrap());
    assert_eq!(
        rows,
        vec![
            (vec![1., 2.], vec![0.]),
            (vec![3., 4.], vec![1.]),
            (vec![5., 6.], vec![0.])
        ]
    );
    let short = Tensor::<(Batch,)>::from_vec(vec![0., 1.], &[2]).unwrap();
    assert!(matches!(
        from_tensor_slices((x.clone(), short)),
        Err(DataError::Length { .. })
    ));

    let batches = epoch(&from_tensor_slices(x).unwrap().batch(2, false));
    let t: Tensor<(Batch, F)> = stack_rows(&batches[0]).unwrap();
    assert_eq!((t.dims(), t.to_vec()), (&[2usize, 2][..], vec![1., 2., 3., 4.]));
    let labels = epoch(&from_tensor_slices(y).unwrap().batch(3, false));
    let l: Tensor<(Batch,)> = stack_rows(&labels[0]).unwrap();
    assert_eq!(l.to_vec(), vec![0., 1., 0.]);
    assert!(stack_rows::<(Batch, F), f32>(&[vec![1., 2.], vec![3.]]).is_err());
}

#[test]
fn list_files_and_text_lines() {
    let dir = temp_dir("files");
    for (name, text) in [("b.txt", "b1\r\nb2\n"), ("a.txt", "a1\na2\na3"), ("c.log", "x")] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let pattern = format!("{}/*.txt", dir.display());
    let files = epoch(&list_files(&pattern, FileOrder::Sorted).unwrap());
    assert_eq!(files, vec![dir.join("a.txt"), dir.join("b.txt")]);
    let shuffled = list_files(&pattern, FileOrder::Shuffled(1)).unwrap();
    let mut s = epoch(&shuffled);
    s.sort();
    assert_eq!(s, files);

    let lines = epoch(&text_lines(&files));
    assert_eq!(lines, vec!["a1", "a2", "a3", "b1", "b2"]);

    let missing = dir.join("missing.txt");
    let items: Vec<_> = text_lines(&[dir.join("a.txt"), missing.clone()])
        .iter()
        .unwrap()
        .collect();
    assert_eq!(items.len(), 4);
    assert_eq!(
        items[3],
        Err(DataError::FileNotFound {
            path: missing.clone()
        })
    );
    assert_eq!(
        items[3].as_ref().unwrap_err().to_string(),
        format!("file not found: {}", missing.display())
    );

    let none = format!("{}/*.parquet", dir.display());
    let err = list_files(&none, FileOrder::Sorted).unwrap_err();
    assert_eq!(err.to_string(), format!("no file matches `{none}`"));
}

#[test]
fn a_missing_file_inside_an_interleave_is_one_error_and_a_producer_panic_is_reported() {
    let dir = temp_dir("interleave-missing");
    let (a, b) = (dir.join("a.txt"), dir.join("b.txt"));
    std::fs::write(&a, "a1\na2\n").unwrap();
    std::fs::write(&b, "b1\n").unwrap();
    let missing = dir.join("gone.txt");
    let paths = Dataset::from_vec(vec![a, missing.clone(), b]);
    let lines = paths.interleave(|p| text_lines(&[p]), 2, 1).skip_errors();
    let mut it = lines.iter().unwrap();
    let got: Vec<String> = it.by_ref().map(Result::unwrap).collect();
    // Cycle of 2, blocks of 1: a1, the error of `gone` (its only element), a2, then b1 in the
    // slot `gone` left.
    assert_eq!(got, vec!["a1", "a2", "b1"]);
    assert_eq!(it.skipped(), 1);
    assert_eq!(
        it.first_skipped(),
        Some(&DataError::FileNotFound { path: missing })
    );

    let panicking = Dataset::range(0, 3).map(|x| {
        assert!(x < 2, "element {x} is not allowed");
        x
    });
    let items: Vec<_> = panicking.prefetch(1).iter().unwrap().collect();
    assert_eq!(items[..2], [Ok(0), Ok(1)]);
    assert!(
        matches!(&items[2], Err(DataError::Worker { stage: "prefetch", message }) if message.contains("element 2")),
        "{:?}",
        items[2]
    );
}
