//! One LSTM layer over a whole sequence as a single burn operation with its own backward pass.
//!
//! Written with burn's tensor operations, a layer is about sixteen small operations per step, each
//! recorded for autodiff, and the per-operation overhead bounds training at a quarter of PyTorch's
//! speed (`../shared/ML-NOTES.md`, and this crate's first version). Here a layer is one node of
//! burn's autodiff graph: the forward pass projects every step's input with one matrix product,
//! then runs the recurrence on contiguous buffers; the backward pass walks the steps back once,
//! accumulating the weight gradients as it goes (`crate::kernel`).
//!
//! [`layer`] runs fused on burn's ndarray backend, with or without autodiff, and falls back to
//! [`reference`] (the same maths as burn tensor operations) on any other backend. Gradients are
//! tested against burn's own autodiff of [`reference`].
//!
//! Layout: the sequence is `[steps, batch, input]` (a step's rows contiguous), the weights
//! `wx [input, 4H]`, `wh [H, 4H]`, `b [4H]` with the gates input, forget, output, cell in that
//! order, as `hcp_models::forecast::lstm` reads them; the output is every step's hidden state
//! `[steps, batch, H]`. The state starts at zero.

// burn 0.22 marks its ndarray backend deprecated in favour of `burn-flex`; training runs on
// ndarray, the backend `../shared/ML-NOTES.md` measured (see `train::cpu_device`).
#![allow(deprecated)]

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ndarray::NdArrayTensor;
use burn::backend::{Autodiff, NdArray};
use burn::tensor::activation::{sigmoid, tanh};
use burn::tensor::{Tensor, TensorData};

use crate::kernel::{Dims, Part, backward_split, forward_split};

type Ad = Autodiff<NdArray>;

/// The layer over `x [steps, batch, input]`: every step's hidden state `[steps, batch, H]`. On
/// ndarray the batch runs in parts of 32 rows spread over `threads` threads; neither the
/// outputs nor the gradients depend on `threads`.
pub fn layer(x: Tensor<3>, wx: Tensor<2>, wh: Tensor<2>, b: Tensor<1>, threads: usize) -> Tensor<3> {
    let [steps, batch, input] = x.dims();
    let [rows_wx, g4] = wx.dims();
    assert_eq!(rows_wx, input, "wx is [input, 4H]");
    assert_eq!(g4 % 4, 0, "wx is [input, 4H]");
    let d = Dims { steps, batch, input, hidden: g4 / 4 };
    if let (Ok(px), Ok(pwx), Ok(pwh), Ok(pb)) = (
        x.clone().try_into_primitive::<Ad>(),
        wx.clone().try_into_primitive::<Ad>(),
        wh.clone().try_into_primitive::<Ad>(),
        b.clone().try_into_primitive::<Ad>(),
    ) {
        let nodes = [px.node(), pwx.node(), pwh.node(), pb.node()];
        let (xv, wxv, whv, bv) =
            (values(px.primitive()), values(pwx.primitive()), values(pwh.primitive()), values(pb.primitive()));
        let (h, parts) = forward_split(d, &xv, &wxv, &whv, &bv, threads);
        let out = ndarray_tensor(h, [steps, batch, d.hidden]);
        let output = match FusedLayer.prepare::<NoCheckpointing>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(Arc::new(Saved { d, wx: wxv, wh: whv, parts, threads }), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        return Tensor::from_primitive::<Ad>(output);
    }
    if let (Ok(px), Ok(pwx), Ok(pwh), Ok(pb)) = (
        x.clone().try_into_primitive::<NdArray>(),
        wx.clone().try_into_primitive::<NdArray>(),
        wh.clone().try_into_primitive::<NdArray>(),
        b.clone().try_into_primitive::<NdArray>(),
    ) {
        let (h, _) = forward_split(d, &values(&px), &values(&pwx), &values(&pwh), &values(&pb), threads);
        return Tensor::from_primitive::<NdArray>(ndarray_tensor(h, [steps, batch, d.hidden]));
    }
    reference(x, wx, wh, b)
}

/// The same layer as burn tensor operations, step by step (each step its own tensor): what
/// [`layer`] runs on backends other than ndarray, and what its gradients are tested against.
pub fn reference(x: Tensor<3>, wx: Tensor<2>, wh: Tensor<2>, b: Tensor<1>) -> Tensor<3> {
    let [steps, batch, input] = x.dims();
    let hidden = wh.dims()[0];
    let device = x.device();
    let b = b.unsqueeze::<2>();
    let mut h: Tensor<2> = Tensor::zeros([batch, hidden], &device);
    let mut c: Tensor<2> = Tensor::zeros([batch, hidden], &device);
    let mut out = Vec::with_capacity(steps);
    for t in 0..steps {
        let xt = x.clone().narrow(0, t, 1).reshape([batch, input]);
        let g = xt.matmul(wx.clone()) + h.clone().matmul(wh.clone()) + b.clone();
        let i = sigmoid(g.clone().narrow(1, 0, hidden));
        let f = sigmoid(g.clone().narrow(1, hidden, hidden));
        let o = sigmoid(g.clone().narrow(1, 2 * hidden, hidden));
        let u = tanh(g.narrow(1, 3 * hidden, hidden));
        c = f * c + i * u;
        h = o * tanh(c.clone());
        out.push(h.clone().unsqueeze::<3>());
    }
    Tensor::cat(out, 0)
}

/// What the backward pass keeps: the weights it reads, the forward pass of each part, and the
/// threads to spread the parts over.
struct Saved {
    d: Dims,
    wx: Vec<f32>,
    wh: Vec<f32>,
    parts: Vec<Part>,
    threads: usize,
}

impl std::fmt::Debug for Saved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saved").field("d", &self.d).finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct FusedLayer;

impl Backward<NdArray, 4> for FusedLayer {
    type State = Arc<Saved>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dh = values(&grads.consume::<NdArray>(&ops.node));
        let s = &ops.state;
        let d = s.d;
        let [px, pwx, pwh, pb] = ops.parents;
        let g = backward_split(d, &s.wx, &s.wh, &s.parts, &dh, px.is_some(), s.threads);
        let g4 = 4 * d.hidden;
        if let Some(node) = px {
            grads.register::<NdArray>(node.id, ndarray_tensor(g.x, [d.steps, d.batch, d.input]));
        }
        if let Some(node) = pwx {
            grads.register::<NdArray>(node.id, ndarray_tensor(g.wx, [d.input, g4]));
        }
        if let Some(node) = pwh {
            grads.register::<NdArray>(node.id, ndarray_tensor(g.wh, [d.hidden, g4]));
        }
        if let Some(node) = pb {
            grads.register::<NdArray>(node.id, ndarray_tensor(g.b, [g4]));
        }
    }
}

/// An ndarray tensor's values in row-major order.
fn values(t: &NdArrayTensor) -> Vec<f32> {
    match t {
        NdArrayTensor::F32(storage) => {
            let view = storage.view();
            match view.as_slice() {
                Some(s) => s.to_vec(),
                None => view.iter().copied().collect(),
            }
        }
        _ => panic!("the fused LSTM layer runs in f32"),
    }
}

fn ndarray_tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> NdArrayTensor {
    NdArrayTensor::from_data(TensorData::new(values, shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::cpu_device;

    type Layer3 = Box<dyn Fn(Tensor<3>, Tensor<2>, Tensor<2>, Tensor<1>) -> Tensor<3>>;

    fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().unwrap()
    }

    fn worst(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs() / (1.0 + y.abs())).fold(0.0, f32::max)
    }

    /// Uniform values in ±0.8 from a local generator: burn's seed is global to the backend, and
    /// tests run in parallel.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut mix = hcp_models::forecast::synthetic::Mix(seed);
        (0..n).map(|_| (1.6 * mix.noise()) as f32).collect()
    }

    /// Two stacked layers on the autodiff device, the loss a fixed weighting of every output, so
    /// that every step's hidden state, the second layer's input and the first's are all
    /// differentiated: the output and the gradients of the input and of all six weights.
    fn outputs_and_grads(run: Layer3, steps: usize) -> Vec<Vec<f32>> {
        let device = cpu_device().autodiff();
        // Three parts of the batch: 16, 16 and 5 rows.
        let (batch, input, hidden) = (37, 4, 5);
        let g4 = 4 * hidden;
        let mut seed = 0;
        let mut random = |shape: Vec<usize>| {
            seed += 1;
            let n = shape.iter().product::<usize>();
            Tensor::<1>::from_data(TensorData::new(values(n, seed), [n]), &device)
        };
        let x = random(vec![steps, batch, input]).reshape([steps, batch, input]).require_grad();
        let wx1 = random(vec![input, g4]).reshape([input, g4]).require_grad();
        let wh1 = random(vec![hidden, g4]).reshape([hidden, g4]).require_grad();
        let b1 = random(vec![g4]).require_grad();
        let wx2 = random(vec![hidden, g4]).reshape([hidden, g4]).require_grad();
        let wh2 = random(vec![hidden, g4]).reshape([hidden, g4]).require_grad();
        let b2 = random(vec![g4]).require_grad();
        let weight = random(vec![steps, batch, hidden]).reshape([steps, batch, hidden]);
        let h1 = run(x.clone(), wx1.clone(), wh1.clone(), b1.clone());
        let h2 = run(h1, wx2.clone(), wh2.clone(), b2.clone());
        let loss = (h2.clone() * weight).sum();
        let grads = loss.backward();
        let mut out = vec![flat(h2.inner())];
        out.push(flat(x.grad(&grads).expect("x is differentiated")));
        for w in [&wx1, &wh1, &wx2, &wh2] {
            out.push(flat(w.grad(&grads).expect("a weight is differentiated")));
        }
        for b in [&b1, &b2] {
            out.push(flat(b.grad(&grads).expect("a bias is differentiated")));
        }
        out
    }

    /// The fused layer's output and gradients, on one to three threads, are burn's autodiff of
    /// the same maths written as tensor operations, within float rounding, and do not depend on
    /// the threads.
    #[test]
    fn fused_gradients_match_burn_autodiff_of_tensor_ops() {
        for steps in [1, 2, 7] {
            let reference = outputs_and_grads(Box::new(reference), steps);
            let one = outputs_and_grads(Box::new(|x, wx, wh, b| layer(x, wx, wh, b, 1)), steps);
            let names = ["output", "x", "wx1", "wh1", "wx2", "wh2", "b1", "b2"];
            for ((name, f), r) in names.iter().zip(&one).zip(&reference) {
                assert!(r.iter().any(|v| *v != 0.0) || *name == "wh1" || *name == "wh2", "{name} all zero");
                let w = worst(f, r);
                assert!(w < 1e-5, "{steps} steps, {name}: fused and tensor ops differ by {w}");
            }
            for threads in [2, 3] {
                let more = outputs_and_grads(Box::new(move |x, wx, wh, b| layer(x, wx, wh, b, threads)), steps);
                assert_eq!(more, one, "{steps} steps: {threads} threads change a bit");
            }
        }
    }

    /// Without autodiff (validation, inference), the fused layer gives the tensor operations'
    /// outputs, the same on one thread and two.
    #[test]
    fn fused_forward_without_autodiff_matches_tensor_ops() {
        let device = cpu_device();
        let (steps, batch, input, hidden) = (6, 20, 3, 4);
        let x: Tensor<3> =
            Tensor::from_data(TensorData::new(values(steps * batch * input, 1), [steps, batch, input]), &device);
        let wx: Tensor<2> =
            Tensor::from_data(TensorData::new(values(input * 4 * hidden, 2), [input, 4 * hidden]), &device);
        let wh: Tensor<2> =
            Tensor::from_data(TensorData::new(values(hidden * 4 * hidden, 3), [hidden, 4 * hidden]), &device);
        let b: Tensor<1> = Tensor::from_data(TensorData::new(values(4 * hidden, 4), [4 * hidden]), &device);
        let one = flat(layer(x.clone(), wx.clone(), wh.clone(), b.clone(), 1));
        // Rows are independent, the parts fixed: the threads change no bit of the output.
        assert_eq!(flat(layer(x.clone(), wx.clone(), wh.clone(), b.clone(), 2)), one);
        let reference = flat(reference(x, wx, wh, b));
        assert!(worst(&one, &reference) < 1e-6);
    }
}
