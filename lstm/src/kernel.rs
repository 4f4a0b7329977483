//! The LSTM layer's arithmetic in plain Rust: the forward pass over a whole sequence and its
//! backward pass, on contiguous row-major buffers. `crate::fused` makes it a burn operation.
//!
//! Shapes: the sequence `[steps, batch, input]` (a step's rows contiguous), `wx [input, 4H]`,
//! `wh [H, 4H]`, `b [4H]`, the gates input, forget, output, cell in that order (as
//! `hcp_models::forecast::lstm` reads them); the state starts at zero.
//!
//! The products are small (a step is `[batch, H] · [H, 4H]`), so they run in a register-blocked
//! kernel ([`matmul_acc`]) on data that stays in cache, and the backward pass accumulates the
//! weight gradients step by step while that step's gate gradients are still in cache. The
//! sigmoid and tanh use an exponential accurate to 3e-7 relative ([`exp`]) that, unlike
//! the C library's, the compiler vectorises. On x86-64 CPUs with AVX-512F, or else AVX2 and FMA
//! (checked at run time), the whole pass is compiled for them (the two give the same bits);
//! elsewhere the same code runs portably.
//!
//! `unsafe` here, and only here in hcp: entering the functions compiled for AVX2/FMA or AVX-512
//! once the CPU is checked, and the unaligned vector loads and stores of the matrix kernel, each
//! within a slice whose bounds are checked just before. Tests hold the kernel to the textbook product and
//! the layer's gradients to burn's own autodiff.
#![allow(unsafe_code)]

use std::ops::Range;

/// The sizes of one layer's pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub steps: usize,
    pub batch: usize,
    pub input: usize,
    pub hidden: usize,
}

impl Dims {
    fn rows(&self) -> usize {
        self.steps * self.batch
    }
}

/// The forward pass's results that the backward pass reads.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Gate activations `[steps, batch, 4H]`: input, forget, output (sigmoid), cell (tanh).
    pub gates: Vec<f32>,
    /// Cell state after each step `[steps, batch, H]`.
    pub c: Vec<f32>,
    /// tanh of the cell state after each step `[steps, batch, H]`.
    pub tanh_c: Vec<f32>,
    /// Hidden state after each step `[steps, batch, H]`: the layer's output.
    pub h: Vec<f32>,
}

/// Gradients of a layer's input and weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    /// `[steps, batch, input]`; empty when not asked for.
    pub x: Vec<f32>,
    pub wx: Vec<f32>,
    pub wh: Vec<f32>,
    pub b: Vec<f32>,
}

fn check_lengths(d: Dims, x: &[f32], wx: &[f32], wh: &[f32]) {
    let g4 = 4 * d.hidden;
    assert_eq!(x.len(), d.rows() * d.input, "x is [steps, batch, input]");
    assert_eq!(wx.len(), d.input * g4, "wx is [input, 4H]");
    assert_eq!(wh.len(), d.hidden * g4, "wh is [H, 4H]");
}

/// The instruction sets the arithmetic is compiled for: the `ISA` parameter of its functions.
const PORTABLE: u8 = 0;
const AVX2: u8 = 1;
const AVX512: u8 = 2;

/// The best of them this CPU has (AVX-512 counts only with AVX2 and FMA beside it).
fn isa() -> u8 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            return if has!("avx512f") { AVX512 } else { AVX2 };
        }
    }
    PORTABLE
}

/// The layer over the whole sequence.
pub fn forward(d: Dims, x: &[f32], wx: &[f32], wh: &[f32], b: &[f32]) -> Forward {
    check_lengths(d, x, wx, wh);
    assert_eq!(b.len(), 4 * d.hidden, "b is [4H]");
    match isa() {
        // SAFETY: the CPU has the features these functions are compiled for (`isa` checked).
        #[cfg(target_arch = "x86_64")]
        AVX512 => unsafe { forward_avx512(d, x, wx, wh, b) },
        #[cfg(target_arch = "x86_64")]
        AVX2 => unsafe { forward_avx2(d, x, wx, wh, b) },
        _ => forward_body::<PORTABLE>(d, x, wx, wh, b),
    }
}

/// Gradients given the loss's gradient `dh` with respect to every step's hidden state
/// `[steps, batch, H]`; `want_x`: also the input's.
pub fn backward(d: Dims, x: &[f32], wx: &[f32], wh: &[f32], fwd: &Forward, dh: &[f32], want_x: bool) -> Grads {
    check_lengths(d, x, wx, wh);
    assert_eq!(dh.len(), d.rows() * d.hidden, "dh is [steps, batch, H]");
    assert_eq!(fwd.h.len(), d.rows() * d.hidden, "the forward pass is of these dims");
    match isa() {
        // SAFETY: as in `forward`.
        #[cfg(target_arch = "x86_64")]
        AVX512 => unsafe { backward_avx512(d, x, wx, wh, fwd, dh, want_x) },
        #[cfg(target_arch = "x86_64")]
        AVX2 => unsafe { backward_avx2(d, x, wx, wh, fwd, dh, want_x) },
        _ => backward_body::<PORTABLE>(d, x, wx, wh, fwd, dh, want_x),
    }
}

/// Rows of a batch run together, so that a step's gates (32 × 4H floats) stay in the first-level
/// cache; chosen with the training bench (`benches/train.rs`), where 16 rows did no better.
const PART_ROWS: usize = 32;

/// One part of a batch: its rows, its input `[steps, rows, input]` and its forward pass.
#[derive(Debug, Clone)]
pub struct Part {
    pub rows: Range<usize>,
    pub x: Vec<f32>,
    pub fwd: Forward,
}

/// The batch's rows in parts of [`PART_ROWS`] (the last one shorter).
fn parts_of(batch: usize) -> Vec<Range<usize>> {
    (0..batch.div_ceil(PART_ROWS)).map(|i| i * PART_ROWS..((i + 1) * PART_ROWS).min(batch)).collect()
}

/// `f(0..n)` on up to `threads` threads (thread `w` takes `w`, `w + threads`, ...), in order.
fn on_threads<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = threads.clamp(1, n.max(1));
    if workers == 1 {
        return (0..n).map(f).collect();
    }
    let f = &f;
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| s.spawn(move || (w..n).step_by(workers).map(|i| (i, f(i))).collect::<Vec<_>>()))
            .collect();
        for h in handles {
            for (i, v) in h.join().expect("an LSTM worker thread panicked") {
                out[i] = Some(v);
            }
        }
    });
    out.into_iter().map(|v| v.expect("every part ran")).collect()
}

/// Rows `rows` of every step of a `[steps, batch, width]` buffer, as `[steps, rows, width]`.
fn gather(v: &[f32], d: Dims, width: usize, rows: &Range<usize>) -> Vec<f32> {
    let mut out = Vec::with_capacity(d.steps * rows.len() * width);
    for t in 0..d.steps {
        out.extend_from_slice(&v[(t * d.batch + rows.start) * width..(t * d.batch + rows.end) * width]);
    }
    out
}

/// Writes a part `[steps, rows, width]` into rows `rows` of every step of `dst`.
fn scatter(dst: &mut [f32], part: &[f32], d: Dims, width: usize, rows: &Range<usize>) {
    let n = rows.len() * width;
    for t in 0..d.steps {
        dst[(t * d.batch + rows.start) * width..(t * d.batch + rows.end) * width]
            .copy_from_slice(&part[t * n..(t + 1) * n]);
    }
}

/// [`forward`] part by part (rows are independent), the parts spread over `threads` threads:
/// every step's hidden state `[steps, batch, H]`, and the parts the backward pass needs. The
/// result does not depend on `threads`.
pub fn forward_split(d: Dims, x: &[f32], wx: &[f32], wh: &[f32], b: &[f32], threads: usize) -> (Vec<f32>, Vec<Part>) {
    check_lengths(d, x, wx, wh);
    let ranges = parts_of(d.batch);
    let parts = on_threads(ranges.len(), threads, |i| {
        let rows = ranges[i].clone();
        let xp = gather(x, d, d.input, &rows);
        let fwd = forward(Dims { batch: rows.len(), ..d }, &xp, wx, wh, b);
        Part { rows, x: xp, fwd }
    });
    let mut h = vec![0f32; d.rows() * d.hidden];
    for p in &parts {
        scatter(&mut h, &p.fwd.h, d, d.hidden, &p.rows);
    }
    (h, parts)
}

/// [`backward`] over the parts of [`forward_split`], spread over `threads` threads; the weight
/// gradients are the parts' added in order, so the result does not depend on `threads` either.
pub fn backward_split(
    d: Dims,
    wx: &[f32],
    wh: &[f32],
    parts: &[Part],
    dh: &[f32],
    want_x: bool,
    threads: usize,
) -> Grads {
    assert_eq!(dh.len(), d.rows() * d.hidden, "dh is [steps, batch, H]");
    let grads = on_threads(parts.len(), threads, |i| {
        let p = &parts[i];
        let dhp = gather(dh, d, d.hidden, &p.rows);
        backward(Dims { batch: p.rows.len(), ..d }, &p.x, wx, wh, &p.fwd, &dhp, want_x)
    });
    let g4 = 4 * d.hidden;
    let mut total = Grads {
        x: vec![0f32; if want_x { d.rows() * d.input } else { 0 }],
        wx: vec![0f32; d.input * g4],
        wh: vec![0f32; d.hidden * g4],
        b: vec![0f32; g4],
    };
    for (g, p) in grads.iter().zip(parts) {
        for (acc, part) in [(&mut total.wx, &g.wx), (&mut total.wh, &g.wh), (&mut total.b, &g.b)] {
            for (a, v) in acc.iter_mut().zip(part) {
                *a += v;
            }
        }
        if want_x {
            scatter(&mut total.x, &g.x, d, d.input, &p.rows);
        }
    }
    total
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn forward_avx2(d: Dims, x: &[f32], wx: &[f32], wh: &[f32], b: &[f32]) -> Forward {
    forward_body::<AVX2>(d, x, wx, wh, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn backward_avx2(d: Dims, x: &[f32], wx: &[f32], wh: &[f32], fwd: &Forward, dh: &[f32], want_x: bool) -> Grads {
    backward_body::<AVX2>(d, x, wx, wh, fwd, dh, want_x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn forward_avx512(d: Dims, x: &[f32], wx: &[f32], wh: &[f32], b: &[f32]) -> Forward {
    forward_body::<AVX512>(d, x, wx, wh, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn backward_avx512(d: Dims, x: &[f32], wx: &[f32], wh: &[f32], fwd: &Forward, dh: &[f32], want_x: bool) -> Grads {
    backward_body::<AVX512>(d, x, wx, wh, fwd, dh, want_x)
}

#[inline(always)]
fn forward_body<const ISA: u8>(d: Dims, x: &[f32], wx: &[f32], wh: &[f32], b: &[f32]) -> Forward {
    let (h, g4, bh) = (d.hidden, 4 * d.hidden, d.batch * d.hidden);
    let rows = d.rows();
    let mut gates = Vec::with_capacity(rows * g4);
    for _ in 0..rows {
        gates.extend_from_slice(b);
    }
    matmul_acc::<ISA>(&mut gates, x, wx, rows, d.input, g4);
    let mut c = vec![0f32; rows * h];
    let mut tanh_c = vec![0f32; rows * h];
    let mut hs = vec![0f32; rows * h];
    let zeros = vec![0f32; bh];
    let step = d.batch * g4;
    for t in 0..d.steps {
        let g = &mut gates[t * step..(t + 1) * step];
        if t > 0 {
            matmul_acc::<ISA>(g, &hs[(t - 1) * bh..t * bh], wh, d.batch, h, g4);
        }
        for gr in g.chunks_exact_mut(g4) {
            let (sig, cand) = gr.split_at_mut(3 * h);
            for v in sig {
                *v = sigmoid::<ISA>(*v);
            }
            for v in cand {
                *v = tanh::<ISA>(*v);
            }
        }
        let (c_done, c_rest) = c.split_at_mut(t * bh);
        let c_prev = if t > 0 { &c_done[(t - 1) * bh..] } else { &zeros[..] };
        let c_t = &mut c_rest[..bh];
        let tc_t = &mut tanh_c[t * bh..(t + 1) * bh];
        let h_t = &mut hs[t * bh..(t + 1) * bh];
        for r in 0..d.batch {
            let gr = &g[r * g4..(r + 1) * g4];
            let (i, f, o, u) = (&gr[..h], &gr[h..2 * h], &gr[2 * h..3 * h], &gr[3 * h..]);
            let cp = &c_prev[r * h..(r + 1) * h];
            let ct = &mut c_t[r * h..(r + 1) * h];
            let tct = &mut tc_t[r * h..(r + 1) * h];
            let ht = &mut h_t[r * h..(r + 1) * h];
            for j in 0..h {
                let cell = madd::<ISA>(f[j], cp[j], i[j] * u[j]);
                let tc = tanh::<ISA>(cell);
                ct[j] = cell;
                tct[j] = tc;
                ht[j] = o[j] * tc;
            }
        }
    }
    Forward { gates, c, tanh_c, h: hs }
}

#[inline(always)]
fn backward_body<const ISA: u8>(
    d: Dims,
    x: &[f32],
    wx: &[f32],
    wh: &[f32],
    fwd: &Forward,
    dh: &[f32],
    want_x: bool,
) -> Grads {
    let (h, g4, bh) = (d.hidden, 4 * d.hidden, d.batch * d.hidden);
    let step = d.batch * g4;
    let wh_t = transpose(wh, h, g4);
    let wx_t = transpose(wx, d.input, g4);
    let mut gwh = vec![0f32; h * g4];
    let mut gwx = vec![0f32; d.input * g4];
    let mut gb = vec![0f32; g4];
    let mut gx = if want_x { vec![0f32; d.rows() * d.input] } else { Vec::new() };
    let mut dg = vec![0f32; step];
    let mut dh_next = vec![0f32; bh];
    let mut dc_next = vec![0f32; bh];
    let zeros = vec![0f32; bh];
    for t in (0..d.steps).rev() {
        let g = &fwd.gates[t * step..(t + 1) * step];
        let c_prev = if t > 0 { &fwd.c[(t - 1) * bh..t * bh] } else { &zeros[..] };
        let tc_t = &fwd.tanh_c[t * bh..(t + 1) * bh];
        let dh_t = &dh[t * bh..(t + 1) * bh];
        for r in 0..d.batch {
            let gr = &g[r * g4..(r + 1) * g4];
            let (i, f, o, u) = (&gr[..h], &gr[h..2 * h], &gr[2 * h..3 * h], &gr[3 * h..]);
            let (di, rest) = dg[r * g4..(r + 1) * g4].split_at_mut(h);
            let (df, rest) = rest.split_at_mut(h);
            let (d_o, du) = rest.split_at_mut(h);
            let cp = &c_prev[r * h..(r + 1) * h];
            let tc = &tc_t[r * h..(r + 1) * h];
            let dht = &dh_t[r * h..(r + 1) * h];
            let dhn = &dh_next[r * h..(r + 1) * h];
            let dcn = &mut dc_next[r * h..(r + 1) * h];
            for j in 0..h {
                let dhj = dht[j] + dhn[j];
                let dc = madd::<ISA>(dhj * o[j], 1.0 - tc[j] * tc[j], dcn[j]);
                di[j] = dc * u[j] * i[j] * (1.0 - i[j]);
                df[j] = dc * cp[j] * f[j] * (1.0 - f[j]);
                d_o[j] = dhj * tc[j] * o[j] * (1.0 - o[j]);
                du[j] = dc * i[j] * (1.0 - u[j] * u[j]);
                dcn[j] = dc * f[j];
            }
        }
        for row in dg.chunks_exact(g4) {
            for (s, v) in gb.iter_mut().zip(row) {
                *s += v;
            }
        }
        // The weights' gradients: h_{t-1}ᵀ · dG_t and x_tᵀ · dG_t.
        if t > 0 {
            let h_prev_t = transpose(&fwd.h[(t - 1) * bh..t * bh], d.batch, h);
            matmul_acc::<ISA>(&mut gwh, &h_prev_t, &dg, h, d.batch, g4);
        }
        let x_t = transpose(&x[t * d.batch * d.input..(t + 1) * d.batch * d.input], d.batch, d.input);
        matmul_acc::<ISA>(&mut gwx, &x_t, &dg, d.input, d.batch, g4);
        if want_x {
            let gx_t = &mut gx[t * d.batch * d.input..(t + 1) * d.batch * d.input];
            matmul_acc::<ISA>(gx_t, &dg, &wx_t, d.batch, g4, d.input);
        }
        // What flows to step t-1: dG_t · Whᵀ.
        dh_next.fill(0.0);
        if t > 0 {
            matmul_acc::<ISA>(&mut dh_next, &dg, &wh_t, d.batch, g4, h);
        }
    }
    Grads { x: gx, wx: gwx, wh: gwh, b: gb }
}

/// `a [rows, cols]` transposed to `[cols, rows]`.
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    assert_eq!(a.len(), rows * cols);
    let mut out = vec![0f32; rows * cols];
    for (r, row) in a.chunks_exact(cols).enumerate() {
        for (c, v) in row.iter().enumerate() {
            out[c * rows + r] = *v;
        }
    }
    out
}

#[inline(always)]
fn madd<const ISA: u8>(a: f32, b: f32, c: f32) -> f32 {
    if ISA > PORTABLE { a.mul_add(b, c) } else { a * b + c }
}

/// `dst [m, n] += a [m, k] · b [k, n]`, all row-major. With `AVX2` or `AVX512` (only ever
/// instantiated by the `_avx2` / `_avx512` entry points, which run after the CPU check) blocks of
/// 4 rows × 32, 16 or 8 columns of `dst` stay in vector registers while `k` runs; the rest, and
/// every product of the portable build, go row by row. Each output adds its `k` products in the
/// same order on every path, with fused multiply-adds on both vector paths: AVX2 and AVX-512 give
/// the same bits.
#[inline(always)]
fn matmul_acc<const ISA: u8>(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    assert!(dst.len() == m * n && a.len() == m * k && b.len() == k * n, "a {m}x{k} · {k}x{n} product");
    let (mut full_m, mut full_n) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if ISA == AVX512 {
        // SAFETY: `ISA` is `AVX512` only inside the `_avx512` functions, entered after the check.
        (full_m, full_n) = unsafe { avx512::matmul_blocks(dst, a, b, m, k, n) };
    } else if ISA == AVX2 {
        // SAFETY: `ISA` is `AVX2` only inside the `_avx2` functions, entered after the check.
        (full_m, full_n) = unsafe { avx2::matmul_blocks(dst, a, b, m, k, n) };
    }
    for r in 0..m {
        let from = if r < full_m { full_n } else { 0 };
        if from == n {
            continue;
        }
        let d_row = &mut dst[r * n + from..(r + 1) * n];
        for kk in 0..k {
            let av = a[r * k + kk];
            for (s, &bj) in d_row.iter_mut().zip(&b[kk * n + from..(kk + 1) * n]) {
                *s = madd::<ISA>(av, bj, *s);
            }
        }
    }
}

/// The register-blocked product step of one instruction set: `block::<NB>` adds
/// `a_rows · b[.., j0..j0 + LANES·NB]` to rows `r0..r0 + MR` of `dst`, holding those
/// `MR × NB` vector registers while `k` runs.
#[cfg(target_arch = "x86_64")]
macro_rules! register_block {
    ($features:literal, $reg:ty, $lanes:literal, $zero:ident, $load:ident, $store:ident, $set1:ident, $fma:ident) => {
        const MR: usize = 4;

        #[target_feature(enable = $features)]
        #[inline]
        pub(super) fn block<const NB: usize>(
            dst: &mut [f32],
            a_rows: &[&[f32]; MR],
            b: &[f32],
            r0: usize,
            j0: usize,
            k: usize,
            n: usize,
        ) {
            let width = $lanes * NB;
            let mut acc: [[$reg; NB]; MR] = [[$zero(); NB]; MR];
            for (i, row) in acc.iter_mut().enumerate() {
                let d = &dst[(r0 + i) * n + j0..(r0 + i) * n + j0 + width];
                for (v, reg) in row.iter_mut().enumerate() {
                    // SAFETY: `d` holds LANES·NB values; this reads LANES of them from LANES·v.
                    *reg = unsafe { $load(d.as_ptr().add($lanes * v)) };
                }
            }
            for kk in 0..k {
                let bv = &b[kk * n + j0..kk * n + j0 + width];
                // SAFETY: as above, within `bv`.
                let bs: [$reg; NB] = std::array::from_fn(|v| unsafe { $load(bv.as_ptr().add($lanes * v)) });
                for (row, a_row) in acc.iter_mut().zip(a_rows) {
                    let av = $set1(a_row[kk]);
                    for (reg, bb) in row.iter_mut().zip(&bs) {
                        *reg = $fma(av, *bb, *reg);
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                let d = &mut dst[(r0 + i) * n + j0..(r0 + i) * n + j0 + width];
                for (v, reg) in row.iter().enumerate() {
                    // SAFETY: as above, within `d`.
                    unsafe { $store(d.as_mut_ptr().add($lanes * v), *reg) };
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };

    register_block!(
        "avx2,fma",
        __m256,
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps
    );

    /// The register-blocked part of `dst += a·b`: rows `0..full_m` × columns `0..full_n`, which
    /// it returns (the caller does the rest).
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn matmul_blocks(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> (usize, usize) {
        let full_m = m - m % MR;
        let n16 = n - n % 16;
        let n8 = n - n % 8;
        for r0 in (0..full_m).step_by(MR) {
            let a_rows: [&[f32]; MR] = std::array::from_fn(|i| &a[(r0 + i) * k..(r0 + i + 1) * k]);
            for j0 in (0..n16).step_by(16) {
                block::<2>(dst, &a_rows, b, r0, j0, k, n);
            }
            if n8 > n16 {
                block::<1>(dst, &a_rows, b, r0, n16, k, n);
            }
        }
        (full_m, n8)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
    };

    register_block!(
        "avx512f,avx2,fma",
        __m512,
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps
    );

    /// As `avx2::matmul_blocks` with 512-bit registers: 4 rows × 32 or 16 columns, then an 8-wide
    /// AVX2 block; returns the rows and columns done.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) fn matmul_blocks(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> (usize, usize) {
        let full_m = m - m % MR;
        let n32 = n - n % 32;
        let n16 = n - n % 16;
        let n8 = n - n % 8;
        for r0 in (0..full_m).step_by(MR) {
            let a_rows: [&[f32]; MR] = std::array::from_fn(|i| &a[(r0 + i) * k..(r0 + i + 1) * k]);
            for j0 in (0..n32).step_by(32) {
                block::<2>(dst, &a_rows, b, r0, j0, k, n);
            }
            if n16 > n32 {
                block::<1>(dst, &a_rows, b, r0, n32, k, n);
            }
            if n8 > n16 {
                super::avx2::block::<1>(dst, &a_rows, b, r0, n16, k, n);
            }
        }
        (full_m, n8)
    }
}

/// eˣ within 3e-7 relative, for x in [-87, 88] (outside, the value at the nearer end; NaN
/// stays NaN), in operations the compiler can vectorise: x = n·ln 2 + r with |r| ≤ ln 2 / 2,
/// eʳ by its Taylor polynomial to r⁶ (truncation below 1.2e-7), 2ⁿ built in the exponent bits.
#[inline(always)]
pub(crate) fn exp<const ISA: u8>(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer, held in the low bits
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let t = madd::<ISA>(x, std::f32::consts::LOG2_E, MAGIC);
    let n = t - MAGIC;
    let r = madd::<ISA>(-n, LN2_LO, madd::<ISA>(-n, LN2_HI, x));
    let mut p = 1.0 / 720.0;
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = madd::<ISA>(p, r, c);
    }
    let biased = (t.to_bits() as i32).wrapping_sub(0x4B40_0000).wrapping_add(127);
    p * f32::from_bits((biased << 23) as u32)
}

#[inline(always)]
fn sigmoid<const ISA: u8>(x: f32) -> f32 {
    1.0 / (1.0 + exp::<ISA>(-x))
}

#[inline(always)]
fn tanh<const ISA: u8>(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp::<ISA>(2.0 * x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorisable exponential against the C library's over its whole range: within 3e-7
    /// relative (a few f32 roundings; with and without FMA), and NaN stays NaN.
    #[test]
    fn exp_is_accurate_over_its_range() {
        let mut worst = [0f64; 2];
        let mut x = -87.0f32;
        while x <= 88.0 {
            let exact = (x as f64).exp();
            for (w, got) in worst.iter_mut().zip([exp::<PORTABLE>(x), exp::<AVX2>(x)]) {
                *w = w.max(((got as f64 - exact) / exact).abs());
            }
            x += 0.001_37;
        }
        assert!(worst[0] < 3e-7 && worst[1] < 3e-7, "worst relative error {worst:?}");
        assert!(exp::<PORTABLE>(f32::NAN).is_nan());
        assert_eq!(exp::<PORTABLE>(-1000.0), exp::<PORTABLE>(-87.0));
    }

    /// sigmoid and tanh within 2e-7 of exact (absolute: both are bounded by 1).
    #[test]
    fn sigmoid_and_tanh_are_accurate() {
        let mut x = -30.0f32;
        while x <= 30.0 {
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((sigmoid::<PORTABLE>(x) as f64 - s).abs() < 2e-7, "sigmoid({x})");
            assert!((tanh::<PORTABLE>(x) as f64 - (x as f64).tanh()).abs() < 2e-7, "tanh({x})");
            x += 0.0123;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn matmul_avx2(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
        matmul_acc::<AVX2>(dst, a, b, m, k, n);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn matmul_avx512(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
        matmul_acc::<AVX512>(dst, a, b, m, k, n);
    }

    /// The blocked product against the textbook triple loop, on shapes with and without edges,
    /// on every path this CPU has; the two vector paths give the same bits.
    #[test]
    fn matmul_matches_the_triple_loop() {
        let mut s = 7u32;
        let mut r = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (s >> 8) as f32 / 16_777_216.0 - 0.5
                })
                .collect()
        };
        for (m, k, n) in
            [(4, 3, 16), (9, 5, 37), (8, 7, 8), (5, 9, 56), (64, 64, 256), (64, 256, 8), (1, 1, 1), (3, 0, 5)]
        {
            let (a, b, start) = (r(m * k), r(k * n), r(m * n));
            let mut want = start.clone();
            for i in 0..m {
                for j in 0..n {
                    want[i * n + j] += (0..k).map(|q| a[i * k + q] * b[q * n + j]).sum::<f32>();
                }
            }
            let mut results = Vec::new();
            let mut portable = start.clone();
            matmul_acc::<PORTABLE>(&mut portable, &a, &b, m, k, n);
            results.push(("portable", portable));
            #[cfg(target_arch = "x86_64")]
            if isa() >= AVX2 {
                let mut got = start.clone();
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                unsafe { matmul_avx2(&mut got, &a, &b, m, k, n) };
                results.push(("avx2", got));
            }
            #[cfg(target_arch = "x86_64")]
            if isa() == AVX512 {
                let mut got = start.clone();
                // SAFETY: the CPU has AVX-512F, AVX2 and FMA (checked just above).
                unsafe { matmul_avx512(&mut got, &a, &b, m, k, n) };
                assert_eq!(Some(&got), results.get(1).map(|r| &r.1), "{m}x{k}x{n}: avx512 and avx2 differ");
                results.push(("avx512", got));
            }
            for (path, got) in &results {
                let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0, f32::max);
                assert!(worst < 1e-5, "{m}x{k}x{n} {path}: {worst}");
            }
        }
    }

    /// A one-unit cell by hand: x = 1, every weight 0.5, bias 0 → every gate's input 0.5 at the
    /// first step; i = f = o = σ(0.5), u = tanh(0.5), c = i·u, h = o·tanh(c).
    #[test]
    fn one_unit_cell_by_hand() {
        let d = Dims { steps: 1, batch: 1, input: 1, hidden: 1 };
        let f = forward(d, &[1.0], &[0.5; 4], &[0.5; 4], &[0.0; 4]);
        let s = 1.0 / (1.0 + (-0.5f64).exp());
        let c = s * 0.5f64.tanh();
        assert!((f.c[0] as f64 - c).abs() < 1e-6);
        assert!((f.h[0] as f64 - s * c.tanh()).abs() < 1e-6);
    }
}
