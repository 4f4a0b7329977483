//! The network in burn and its loss. Same maths as the candle forward pass of
//! `hcp_models::forecast::lstm` (a parity test holds them within 1e-4).

use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use hcp_models::forecast::QUANTILES;
use hcp_models::forecast::lstm::NetShape;

use crate::{Error, Result, fused};

/// How the LSTM layers run: fused (each layer one autodiff operation with its own backward pass,
/// on burn's ndarray backend, the batch split across `threads`; `crate::fused`), or as burn
/// tensor operations step by step (the reference the fused layer is tested and benchmarked
/// against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Fused { threads: usize },
    TensorOps,
}

impl Default for Kernel {
    fn default() -> Kernel {
        Kernel::Fused { threads: 1 }
    }
}

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
    /// Per-horizon skip weights `[horizons, 3, n_skip]` (`NetShape::n_skip` > 0).
    pub skip: Option<Param<Tensor<3>>>,
}

/// One weight array: its safetensors name, shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedWeight {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// One batch: the window's inputs `[steps, batch, n_step]` (oldest step first), the head
/// inputs, the per-horizon skip inputs `[batch, horizons, n_skip]` (where the network has
/// them), the median's base per horizon (`lstm_rt`: the latest day-ahead price; `lstm_demand`:
/// the value a week earlier; invariant space) and the targets `[batch, horizons]`.
#[derive(Debug, Clone)]
pub struct Batch {
    pub seq: Tensor<3>,
    pub head: Tensor<2>,
    pub skip: Option<Tensor<3>>,
    pub base: Tensor<2>,
    pub target: Tensor<2>,
}

impl Net {
    /// PyTorch's LSTM initialisation (uniform ±1/√H), the forget gate's bias at 1 (the usual
    /// choice that lets a fresh cell remember), the head's weights small and its bias and skip
    /// weights 0, so that an untrained network forecasts its base (`lstm_rt`: the latest
    /// day-ahead price). Seeded through `device`.
    pub fn init(shape: &NetShape, device: &Device) -> Net {
        let h = shape.hidden;
        let a = 1.0 / (h as f64).sqrt();
        let uniform = |shape: [usize; 2], a: f64| Tensor::random(shape, Distribution::Uniform(-a, a), device);
        let layers = (0..shape.layers)
            .map(|l| {
                let d_in = if l == 0 { shape.n_step } else { h };
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
            head_w: Param::from_tensor(uniform([h + shape.n_head, shape.n_out()], 0.01)),
            head_b: Param::from_tensor(Tensor::zeros([shape.n_out()], device)),
            skip: (shape.n_skip > 0)
                .then(|| Param::from_tensor(Tensor::zeros([shape.horizons, QUANTILES.len(), shape.n_skip], device))),
        }
    }

    /// The network whose weights `bytes` (safetensors, as [`Net::to_safetensors`] writes them)
    /// hold, on `device`: every weight of `shape.weight_shapes()` must be there with its shape.
    pub fn from_safetensors(shape: &NetShape, bytes: &[u8], device: &Device) -> Result<Net> {
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::Burn(format!("safetensors: {e}")))?;
        let read = |(name, shape): (String, Vec<usize>)| -> Result<TensorData> {
            let view = st.tensor(&name).map_err(|e| Error::Burn(format!("{name}: {e}")))?;
            if view.shape() != shape.as_slice() || view.dtype() != safetensors::Dtype::F32 {
                return Err(Error::Burn(format!(
                    "{name}: {:?} {:?}, the network wants F32 {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            Ok(TensorData::new(values, shape))
        };
        // `weight_shapes` lists them as the network holds them: each layer's wx, wh, b, then the head.
        let mut weights = shape.weight_shapes().into_iter().map(read).collect::<Result<Vec<_>>>()?.into_iter();
        let mut next = || weights.next().expect("one per weight shape");
        fn param<const D: usize>(data: TensorData, device: &Device) -> Param<Tensor<D>> {
            Param::from_tensor(Tensor::from_data(data, device))
        }
        let layers = (0..shape.layers)
            .map(|_| Layer { wx: param(next(), device), wh: param(next(), device), b: param(next(), device) })
            .collect();
        let (head_w, head_b) = (param(next(), device), param(next(), device));
        let skip = (shape.n_skip > 0).then(|| param(next(), device));
        Ok(Net { layers, head_w, head_b, skip })
    }

    /// Raw outputs `[batch, n_out]` from the window `seq [steps, batch, n_step]` (oldest step
    /// first), the head inputs `[batch, n_head]` and the skip inputs `[batch, horizons,
    /// n_skip]` (where the network has skip weights).
    pub fn raw(&self, kernel: Kernel, seq: Tensor<3>, head: Tensor<2>, skip: Option<Tensor<3>>) -> Tensor<2> {
        let [steps, batch, _] = seq.dims();
        let mut x = seq;
        for layer in &self.layers {
            let (wx, wh, b) = (layer.wx.val(), layer.wh.val(), layer.b.val());
            x = match kernel {
                Kernel::Fused { threads } => fused::layer(x, wx, wh, b, threads),
                Kernel::TensorOps => fused::reference(x, wx, wh, b),
            };
        }
        let hidden = x.dims()[2];
        let last = x.narrow(0, steps - 1, 1).reshape([batch, hidden]);
        let raw = Tensor::cat(vec![last, head], 1).matmul(self.head_w.val()) + self.head_b.val().unsqueeze::<2>();
        match (&self.skip, skip) {
            (Some(w), Some(x)) => {
                // Each horizon's three outputs: its own skip inputs · its own weights.
                let [_, horizons, n_skip] = x.dims();
                let w = w.val().unsqueeze::<4>();
                let add = (x.reshape([batch, horizons, 1, n_skip]) * w).sum_dim(3);
                raw + add.reshape([batch, horizons * QUANTILES.len()])
            }
            (None, None) => raw,
            (w, x) => panic!("skip weights {} but skip inputs {}", w.is_some(), x.is_some()),
        }
    }

    /// The three quantiles `[batch, horizons]` each (invariant space), decoded around the
    /// batch's base as `hcp_models::forecast::lstm::decode`.
    pub fn quantiles(&self, kernel: Kernel, b: &Batch) -> [Tensor<2>; 3] {
        let base = b.base.clone();
        let [batch, horizons] = base.dims();
        let raw = self.raw(kernel, b.seq.clone(), b.head.clone(), b.skip.clone()).reshape([batch, horizons, 3]);
        let part = |q: usize| raw.clone().narrow(2, q, 1).reshape([batch, horizons]);
        let softplus = |x: Tensor<2>| relu(x.clone()) + x.abs().neg().exp().log1p();
        let median = base + part(0);
        [median.clone() - softplus(part(1)), median.clone(), median + softplus(part(2))]
    }

    /// Mean pinball loss over the three quantiles, every horizon and row.
    pub fn loss(&self, kernel: Kernel, batch: &Batch) -> Tensor<1> {
        let q = self.quantiles(kernel, batch);
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

    /// The weights as named f32 arrays, in `NetShape::weight_shapes` order.
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
        if let Some(skip) = &self.skip {
            let s = skip.val();
            out.push(read("head.skip".into(), s.dims().to_vec(), s.into_data())?);
        }
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
