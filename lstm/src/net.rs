//! The network in burn and its loss. Same maths as the candle forward pass of
//! `hcp_models::forecast::lstm` (a parity test holds them within 1e-4).

use burn::module::{Module, Param};
use burn::tensor::activation::{relu, sigmoid, tanh};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use hcp_models::forecast::QUANTILES;
use hcp_models::forecast::lstm::{LstmSpec, N_HEAD, N_OUT, N_STEP};
use hcp_models::forecast::realtime::HORIZONS;

use crate::{Error, Result};

/// One LSTM layer: gates input, forget, output, cell side by side in each matrix.
#[derive(Module, Debug)]
pub struct Layer {
    pub wx: Param<Tensor<2>>,
    pub wh: Param<Tensor<2>>,
    pub b: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
pub struct Net {
    pub layers: Vec<Layer>,
    pub head_w: Param<Tensor<2>>,
    pub head_b: Param<Tensor<1>>,
}

/// One weight array: its safetensors name, shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedWeight {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// One batch: each step's inputs `[batch, N_STEP]` (oldest first), the head inputs, the median's
/// base (the latest day-ahead price per horizon, invariant space) and the targets.
#[derive(Debug, Clone)]
pub struct Batch {
    pub steps: Vec<Tensor<2>>,
    pub head: Tensor<2>,
    pub base: Tensor<2>,
    pub target: Tensor<2>,
}

impl Net {
    /// PyTorch's LSTM initialisation (uniform ±1/√H), the forget gate's bias at 1 (the usual
    /// choice that lets a fresh cell remember), the head's weights small and its bias 0, so
    /// that an untrained network forecasts the latest day-ahead price. Seeded through `device`.
    pub fn init(spec: &LstmSpec, device: &Device) -> Net {
        let h = spec.hidden;
        let a = 1.0 / (h as f64).sqrt();
        let uniform = |shape: [usize; 2], a: f64| Tensor::random(shape, Distribution::Uniform(-a, a), device);
        let layers = (0..spec.layers)
            .map(|l| {
                let d_in = if l == 0 { N_STEP } else { h };
                let mut bias = vec![0f32; 4 * h];
                bias[h..2 * h].fill(1.0);
                Layer {
                    wx: Param::from_tensor(uniform([d_in, 4 * h], a)),
                    wh: Param::from_tensor(uniform([h, 4 * h], a)),
                    b: Param::from_tensor(Tensor::from_data(TensorData::new(bias, [4 * h]), device)),
                }
            })
            .collect();
        Net {
            layers,
            head_w: Param::from_tensor(uniform([h + N_HEAD, N_OUT], 0.01)),
            head_b: Param::from_tensor(Tensor::zeros([N_OUT], device)),
        }
    }

    /// Raw outputs `[batch, N_OUT]`.
    pub fn raw(&self, steps: &[Tensor<2>], head: Tensor<2>) -> Tensor<2> {
        let [batch, _] = head.dims();
        let device = head.device();
        let mut seq: Vec<Tensor<2>> = steps.to_vec();
        let mut h: Tensor<2> = Tensor::zeros([batch, 1], &device);
        for (l, layer) in self.layers.iter().enumerate() {
            let hsz = layer.wh.val().dims()[0];
            let (wx, wh, b) = (layer.wx.val(), layer.wh.val(), layer.b.val().unsqueeze::<2>());
            h = Tensor::zeros([batch, hsz], &device);
            let mut c: Tensor<2> = Tensor::zeros([batch, hsz], &device);
            let last = l + 1 == self.layers.len();
            let mut outputs = Vec::with_capacity(if last { 0 } else { seq.len() });
            for x in &seq {
                let g = x.clone().matmul(wx.clone()) + h.clone().matmul(wh.clone()) + b.clone();
                let i = sigmoid(g.clone().narrow(1, 0, hsz));
                let f = sigmoid(g.clone().narrow(1, hsz, hsz));
                let o = sigmoid(g.clone().narrow(1, 2 * hsz, hsz));
                let u = tanh(g.narrow(1, 3 * hsz, hsz));
                c = f * c + i * u;
                h = o * tanh(c.clone());
                if !last {
                    outputs.push(h.clone());
                }
            }
            if !last {
                seq = outputs;
            }
        }
        Tensor::cat(vec![h, head], 1).matmul(self.head_w.val()) + self.head_b.val().unsqueeze::<2>()
    }

    /// The three quantiles `[batch, HORIZONS]` each (invariant space), decoded as
    /// `hcp_models::forecast::lstm::decode`.
    pub fn quantiles(&self, steps: &[Tensor<2>], head: Tensor<2>, base: Tensor<2>) -> [Tensor<2>; 3] {
        let [batch, _] = head.dims();
        let raw = self.raw(steps, head).reshape([batch, HORIZONS, 3]);
        let part = |q: usize| raw.clone().narrow(2, q, 1).reshape([batch, HORIZONS]);
        let softplus = |x: Tensor<2>| relu(x.clone()) + x.abs().neg().exp().log1p();
        let median = base + part(0);
        [median.clone() - softplus(part(1)), median.clone(), median + softplus(part(2))]
    }

    /// Mean pinball loss over the three quantiles, every horizon and row.
    pub fn loss(&self, batch: &Batch) -> Tensor<1> {
        let q = self.quantiles(&batch.steps, batch.head.clone(), batch.base.clone());
        let mut total: Option<Tensor<2>> = None;
        for (pred, tau) in q.into_iter().zip(QUANTILES) {
            let e = batch.target.clone() - pred;
            let l = e.clone().mul_scalar(tau).max_pair(e.mul_scalar(tau - 1.0));
            total = Some(match total {
                Some(t) => t + l,
                None => l,
            });
        }
        total.expect("three quantiles").mean().div_scalar(QUANTILES.len() as f64)
    }

    /// The weights as named f32 arrays, in `spec.weight_shapes()` order.
    pub fn named_weights(&self) -> Result<Vec<NamedWeight>> {
        let read = |name: String, shape: Vec<usize>, data: TensorData| -> Result<NamedWeight> {
            let values = data.try_into_vec::<f32>().map_err(|e| Error::Burn(format!("{name}: {e:?}")))?;
            Ok(NamedWeight { name, shape, values })
        };
        let mut out = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            let wx = layer.wx.val();
            let wh = layer.wh.val();
            let b = layer.b.val();
            out.push(read(format!("layers.{l}.wx"), wx.dims().to_vec(), wx.into_data())?);
            out.push(read(format!("layers.{l}.wh"), wh.dims().to_vec(), wh.into_data())?);
            out.push(read(format!("layers.{l}.b"), b.dims().to_vec(), b.into_data())?);
        }
        let w = self.head_w.val();
        let b = self.head_b.val();
        out.push(read("head.w".into(), w.dims().to_vec(), w.into_data())?);
        out.push(read("head.b".into(), b.dims().to_vec(), b.into_data())?);
        Ok(out)
    }

    /// The weights in the safetensors format `hcp_models::forecast::lstm` loads.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let weights = self.named_weights()?;
        let bytes: Vec<Vec<u8>> =
            weights.iter().map(|w| w.values.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
        let views = weights
            .iter()
            .zip(&bytes)
            .map(|(w, b)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, w.shape.clone(), b)
                    .map(|view| (w.name.clone(), view))
                    .map_err(|e| Error::Burn(format!("{}: {e}", w.name)))
            })
            .collect::<Result<Vec<_>>>()?;
        safetensors::serialize(views, None).map_err(|e| Error::Burn(format!("safetensors: {e}")))
    }
}
