//! `from_tensor_slices` over a named struct of tensors: the struct implements `TensorSlices`
//! from its fields' slices, and the pipeline batches its rows back into typed tensors.

use tensor_core::Tensor;
use tensor_nn::data::{from_tensor_slices, stack_rows, DataError, TensorSlices};

tensor_macros::dims! { crate = ::tensor_core; Batch; Features = 2; }

/// A dataset held as named columns.
struct Passengers {
    features: Tensor<(Batch, Features)>,
    label: Tensor<(Batch,)>,
}

/// One row of [`Passengers`].
#[derive(Clone, Debug, PartialEq)]
struct Passenger {
    features: Vec<f32>,
    label: f32,
}

impl TensorSlices for Passengers {
    type Item = Passenger;
    fn into_slices(self) -> tensor_nn::data::Result<Vec<Passenger>> {
        let (features, labels) = (self.features.into_slices()?, self.label.into_slices()?);
        if features.len() != labels.len() {
            return Err(DataError::Length {
                op: "from_tensor_slices",
                expected: features.len(),
                got: labels.len(),
            });
        }
        Ok(features
            .into_iter()
            .zip(labels)
            .map(|(features, label)| Passenger {
                features,
                label: label[0],
            })
            .collect())
    }
}

#[test]
fn named_struct_slices_batch_back_into_tensors() {
    let data = Passengers {
        features: Tensor::from_vec(vec![1., 2., 3., 4., 5., 6.], &[3]).unwrap(),
        label: Tensor::from_vec(vec![0., 1., 1.], &[3]).unwrap(),
    };
    let ds = from_tensor_slices(data).unwrap();
    let rows = ds.collect_vec().unwrap();
    assert_eq!(
        rows[2],
        Passenger {
            features: vec![5., 6.],
            label: 1.
        }
    );
    let batches = ds
        .batch(2, false)
        .map(|b: Vec<Passenger>| {
            let x: Tensor<(Batch, Features)> =
                stack_rows(&b.iter().map(|p| p.features.clone()).collect::<Vec<_>>()).unwrap();
            (x.to_vec(), b.iter().map(|p| p.label).collect::<Vec<_>>())
        })
        .collect_vec()
        .unwrap();
    assert_eq!(
        batches,
        vec![(vec![1., 2., 3., 4.], vec![0., 1.]), (vec![5., 6.], vec![1.])]
    );
}

#[test]
fn named_struct_fields_with_different_rows_are_an_error() {
    let data = Passengers {
        features: Tensor::from_vec(vec![1., 2., 3., 4.], &[2]).unwrap(),
        label: Tensor::from_vec(vec![0., 1., 1.], &[3]).unwrap(),
    };
    let Err(err) = from_tensor_slices(data) else {
        panic!("fields with 2 and 3 rows were accepted")
    };
    let err = err.to_string();
    assert!(err.contains('2') && err.contains('3'), "{err}");
}
