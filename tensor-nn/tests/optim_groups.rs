//! An optimizer with parameter groups updates each group exactly as that group's optimizer
//! alone would, and its state round-trips through a checkpoint.

use tensor_nn::optim::Optimizer;
use tensor_nn::ParamMut;

fn grads(step: usize) -> [Vec<f32>; 3] {
    let s = step as f32;
    [
        vec![0.5 - 0.1 * s, -0.2],
        vec![0.3 * s - 0.4],
        vec![1.0, -1.0 + 0.05 * s, 0.25],
    ]
}

/// Three parameters: `wide.kernel`, `wide.bias` and `deep.kernel`, ten steps.
fn run(opt: &mut Optimizer, steps: usize) -> [Vec<f32>; 3] {
    let mut w = [vec![0.1, -0.3], vec![0.0], vec![0.2, 0.4, -0.6]];
    for step in 0..steps {
        let g = grads(step);
        let [a, b, c] = &mut w;
        let mut params = [
            ParamMut {
                name: "deep.kernel",
                shape: &[3],
                value: c,
                grad: &g[2],
                trainable: true,
            },
            ParamMut {
                name: "wide.kernel",
                shape: &[2],
                value: a,
                grad: &g[0],
                trainable: true,
            },
            ParamMut {
                name: "wide.bias",
                shape: &[1],
                value: b,
                grad: &g[1],
                trainable: true,
            },
        ];
        opt.apply(&mut params).unwrap();
    }
    w
}

/// The same ten steps with two separate optimizers, one per part.
fn run_separately(steps: usize) -> [Vec<f32>; 3] {
    let (mut ftrl, mut adam) = (Optimizer::ftrl(0.05), Optimizer::adam(0.01));
    let mut w = [vec![0.1, -0.3], vec![0.0], vec![0.2, 0.4, -0.6]];
    for step in 0..steps {
        let g = grads(step);
        let [a, b, c] = &mut w;
        let mut wide = [
            ParamMut {
                name: "wide.kernel",
                shape: &[2],
                value: a,
                grad: &g[0],
                trainable: true,
            },
            ParamMut {
                name: "wide.bias",
                shape: &[1],
                value: b,
                grad: &g[1],
                trainable: true,
            },
        ];
        ftrl.apply(&mut wide).unwrap();
        let mut deep = [ParamMut {
            name: "deep.kernel",
            shape: &[3],
            value: c,
            grad: &g[2],
            trainable: true,
        }];
        adam.apply(&mut deep).unwrap();
    }
    w
}

fn grouped() -> Optimizer {
    Optimizer::adam(0.01).with_group("wide.", Optimizer::ftrl(0.05))
}

#[test]
fn each_group_follows_its_own_rule() {
    let together = run(&mut grouped(), 10);
    assert_eq!(together, run_separately(10));
    // And the rules really differ: Adam on everything gives other wide weights.
    let adam_only = run(&mut Optimizer::adam(0.01), 10);
    assert_ne!(adam_only[0], together[0]);
    assert_eq!(adam_only[2], together[2]);
}

#[test]
fn grouped_state_round_trips() {
    let mut opt = grouped();
    run(&mut opt, 4);
    let state: Vec<(String, Vec<f32>)> = opt.state().into_iter().map(|(k, v)| (k, v.to_vec())).collect();
    // Adam keeps momentum and velocity for deep.kernel, FTRL accumulator and linear for the
    // two wide parameters.
    let mut keys: Vec<&str> = state.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "deep.kernel/momentum",
            "deep.kernel/velocity",
            "wide.bias/accumulator",
            "wide.bias/linear",
            "wide.kernel/accumulator",
            "wide.kernel/linear"
        ]
    );
    let mut resumed = grouped();
    resumed.load_state(opt.iterations(), state).unwrap();
    assert_eq!(resumed.iterations(), 4);
    let mut a = [vec![0.5f32, 0.5], vec![0.5], vec![0.5, 0.5, 0.5]];
    let mut b = a.clone();
    for (opt, w) in [(&mut opt, &mut a), (&mut resumed, &mut b)] {
        let g = grads(7);
        let [x, y, z] = w;
        let mut params = [
            ParamMut {
                name: "wide.kernel",
                shape: &[2],
                value: x,
                grad: &g[0],
                trainable: true,
            },
            ParamMut {
                name: "wide.bias",
                shape: &[1],
                value: y,
                grad: &g[1],
                trainable: true,
            },
            ParamMut {
                name: "deep.kernel",
                shape: &[3],
                value: z,
                grad: &g[2],
                trainable: true,
            },
        ];
        opt.apply(&mut params).unwrap();
    }
    assert_eq!(a, b);
}
