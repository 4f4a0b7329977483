//! Lasso regression by coordinate descent on the Gram matrix, with Newton steps on the active
//! set, along a regularisation path, with the penalty chosen by the Akaike information
//! criterion.
//!
//! Objective (scikit-learn's and linfa-elasticnet's convention):
//! `1/(2n) ||y - X w - b||² + alpha ||w||₁`. The intercept `b` is not penalised: the data are
//! centred first.
//!
//! Why a solver of our own beside linfa-elasticnet: LEAR needs the whole path for every one of
//! its 24 hourly models (96 paths per daily recalibration of the four-window ensemble), and a
//! path is only cheap with warm starts and the Gram matrix shared by all 24 hours. linfa-elasticnet
//! fits one penalty from a cold start on the data matrix; the tests check that both land on the
//! same coefficients.

/// The sufficient statistics of one design matrix: column means and the Gram matrix of the
/// centred columns divided by `n`. Shared by every target fitted on the same features.
#[derive(Debug, Clone)]
pub struct Design {
    n: usize,
    p: usize,
    x_mean: Vec<f64>,
    /// Row-major `p × p`.
    gram: Vec<f64>,
    /// Centred columns, column-major `p × n` (for `Xᵀy`).
    columns: Vec<f64>,
}

impl Design {
    /// `rows` holds `n` rows of `p` features each.
    pub fn new(rows: &[Vec<f64>]) -> Design {
        let n = rows.len();
        let p = rows.first().map_or(0, Vec::len);
        let mut x_mean = vec![0.0; p];
        for r in rows {
            debug_assert_eq!(r.len(), p);
            for (m, v) in x_mean.iter_mut().zip(r) {
                *m += v;
            }
        }
        x_mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        let mut columns = vec![0.0; p * n];
        for (i, r) in rows.iter().enumerate() {
            for j in 0..p {
                columns[j * n + i] = r[j] - x_mean[j];
            }
        }
        let mut gram = vec![0.0; p * p];
        for a in 0..p {
            let ca = &columns[a * n..(a + 1) * n];
            for b in a..p {
                let cb = &columns[b * n..(b + 1) * n];
                let dot: f64 = ca.iter().zip(cb).map(|(x, y)| x * y).sum::<f64>() / n as f64;
                gram[a * p + b] = dot;
                gram[b * p + a] = dot;
            }
        }
        Design { n, p, x_mean, gram, columns }
    }

    /// The design of the same rows with every column centred and divided by its L2 norm (a
    /// constant column by 1), as scikit-learn's `normalize=True` did: this design's Gram matrix
    /// and centred columns rescaled (a centred column's squared norm is n times its Gram
    /// diagonal), not computed again from the rows.
    pub fn normalised(&self) -> Design {
        let (n, p) = (self.n, self.p);
        let norms: Vec<f64> = (0..p)
            .map(|j| {
                let norm = (self.gram[j * p + j] * n as f64).sqrt();
                if norm > 0.0 { norm } else { 1.0 }
            })
            .collect();
        let x_mean = self.x_mean.iter().zip(&norms).map(|(m, s)| m / s).collect();
        let columns =
            self.columns.chunks(n.max(1)).zip(&norms).flat_map(|(c, s)| c.iter().map(move |v| v / s)).collect();
        let gram = (0..p * p).map(|k| self.gram[k] / (norms[k / p] * norms[k % p])).collect();
        Design { n, p, x_mean, gram, columns }
    }
}

/// A fitted linear model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Linear {
    pub intercept: f64,
    pub coef: Vec<f64>,
}

impl Linear {
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.intercept + self.coef.iter().zip(x).map(|(w, v)| w * v).sum::<f64>()
    }

    /// Checks a saved model: `inputs` coefficients, all of them and the intercept finite.
    /// `what` names it in the message (`models[12]`).
    pub fn check(&self, what: &str, inputs: usize) -> Result<(), String> {
        if self.coef.len() != inputs {
            return Err(format!("{what}: {} coefficients, the model reads {inputs} inputs", self.coef.len()));
        }
        if let Some(i) = self.coef.iter().position(|w| !w.is_finite()) {
            return Err(format!("{what}: coefficient {i} is {}", self.coef[i]));
        }
        if !self.intercept.is_finite() {
            return Err(format!("{what}: the intercept is {}", self.intercept));
        }
        Ok(())
    }

    pub fn nonzero(&self) -> usize {
        self.coef.iter().filter(|w| **w != 0.0).count()
    }
}

/// How the path is laid out and when a fit has converged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathConfig {
    /// Penalties on the path, log-spaced from the smallest that zeroes every coefficient.
    pub n_alphas: usize,
    /// The last penalty as a fraction of the first.
    pub min_ratio: f64,
    /// Coordinate sweeps per penalty at most.
    pub max_sweeps: usize,
    /// Converged when no coefficient moves by more than this (in units of its column's
    /// standard deviation) during a sweep.
    pub tolerance: f64,
    /// Stop walking down the path after this many penalties without a better criterion.
    pub patience: usize,
    /// Which columns the criterion chooses the penalty on ([`Selection::criterion_design`]).
    pub selection: Selection,
}

impl Default for PathConfig {
    fn default() -> Self {
        PathConfig {
            n_alphas: 40,
            min_ratio: 1e-4,
            max_sweeps: 2_500,
            tolerance: 1e-5,
            patience: 6,
            selection: Selection::Aic,
        }
    }
}

/// Which columns LEAR's criterion chooses the penalty on ([`Selection::criterion_design`],
/// [`fit_aic_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// By the criterion along the path on the columns as they are: the model kept is the
    /// criterion's best.
    #[default]
    Aic,
    /// As the benchmark's published LEAR did (epftoolbox with scikit-learn before 1.2): the
    /// penalty is the criterion's best along the path on the columns centred and divided by
    /// their L2 norms (`LassoLarsIC`'s default `normalize=True` then), and the model is the
    /// lasso at that penalty on the columns as they are (a plain `Lasso(alpha)`). A column of
    /// unit variance has an L2 norm of √n, so the penalty is about √n times weaker than the
    /// criterion's choice on the columns themselves: denser models.
    Epftoolbox,
}

impl Selection {
    pub fn parse(word: &str) -> Option<Selection> {
        match word {
            "aic" => Some(Selection::Aic),
            "epftoolbox" => Some(Selection::Epftoolbox),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Selection::Aic => "aic",
            Selection::Epftoolbox => "epftoolbox",
        }
    }

    /// The design the criterion chooses on where it is not `design` itself: its normalised
    /// columns under [`Selection::Epftoolbox`]. Built once for the many targets of one design.
    pub fn criterion_design(self, design: &Design) -> Option<Design> {
        match self {
            Selection::Aic => None,
            Selection::Epftoolbox => Some(design.normalised()),
        }
    }
}

/// The target's statistics against one design.
struct Target {
    y_mean: f64,
    /// `Xcᵀ yc / n`.
    xty: Vec<f64>,
    /// `ycᵀ yc / n`.
    yty: f64,
}

impl Target {
    fn new(design: &Design, y: &[f64]) -> Target {
        let n = design.n;
        assert_eq!(y.len(), n, "target length matches the design");
        let y_mean = y.iter().sum::<f64>() / n.max(1) as f64;
        let yc: Vec<f64> = y.iter().map(|v| v - y_mean).collect();
        let xty = (0..design.p)
            .map(|j| design.columns[j * n..(j + 1) * n].iter().zip(&yc).map(|(x, y)| x * y).sum::<f64>() / n as f64)
            .collect();
        let yty = yc.iter().map(|v| v * v).sum::<f64>() / n.max(1) as f64;
        Target { y_mean, xty, yty }
    }
}

/// Coordinate descent state: coefficients and `G w`.
struct Solver<'a> {
    design: &'a Design,
    target: &'a Target,
    w: Vec<f64>,
    gw: Vec<f64>,
}

impl Solver<'_> {
    /// Minimises the objective at `alpha` from the current coefficients (a warm start).
    ///
    /// Coordinate descent, sped up by Newton steps on the active set: once a sweep leaves the
    /// set of nonzero coefficients and their signs as they were, the objective restricted to
    /// that pattern is a quadratic whose minimiser one linear solve finds
    /// ([`Solver::newton_step`]). Where the set is right, that is the lasso's solution and the
    /// next sweep moves nothing; coordinate descent alone creeps towards it over thousands of
    /// sweeps when the columns are as correlated as neighbouring hours' prices are. Converged,
    /// either way, when a sweep moves no coefficient by more than the tolerance.
    fn solve(&mut self, alpha: f64, config: &PathConfig) {
        let mut newton_failed = false;
        for _ in 0..config.max_sweeps {
            let (max_step, pattern_changed) = self.sweep(alpha);
            if max_step <= config.tolerance {
                break;
            }
            newton_failed &= !pattern_changed;
            if !pattern_changed && !newton_failed {
                newton_failed = !self.newton_step(alpha);
            }
        }
    }

    /// One pass of coordinate descent over every coefficient: the largest step (in units of
    /// its column's deviation), and whether a coefficient became zero or nonzero or changed
    /// sign.
    fn sweep(&mut self, alpha: f64) -> (f64, bool) {
        let design = self.design;
        let p = design.p;
        let mut max_step = 0.0f64;
        let mut pattern_changed = false;
        for j in 0..p {
            let gjj = design.gram[j * p + j];
            if gjj <= 0.0 {
                continue;
            }
            let old = self.w[j];
            let rho = self.target.xty[j] - self.gw[j] + gjj * old;
            let new = soft_threshold(rho, alpha) / gjj;
            if new != old {
                let delta = new - old;
                self.add_to_gw(j, delta);
                self.w[j] = new;
                max_step = max_step.max(delta.abs() * gjj.sqrt());
                pattern_changed |= sign(new) != sign(old);
            }
        }
        (max_step, pattern_changed)
    }

    /// Moves the nonzero coefficients to the minimiser of the objective with their signs held,
    /// `G_AA v = Xᵀy_A − alpha · sign(w_A)`, where `v` keeps every sign; where it does not, as
    /// far as the first coefficient to reach zero, which is dropped, and again with the
    /// coefficients left (the feature-sign search of Lee et al., 2007). Within the signs'
    /// orthant the objective is that convex quadratic, so no step can raise it. False, with
    /// nothing changed, where `G_AA` is too near singular to factor.
    fn newton_step(&mut self, alpha: f64) -> bool {
        let p = self.design.p;
        let gram = &self.design.gram;
        let mut active: Vec<usize> = (0..p).filter(|&j| self.w[j] != 0.0).collect();
        let Some(mut factor) = Cholesky::new(gram, p, &active) else { return false };
        let moved = active.clone();
        let start: Vec<f64> = active.iter().map(|&j| self.w[j]).collect();
        while !active.is_empty() {
            let rhs = active.iter().map(|&j| self.target.xty[j] - alpha * self.w[j].signum()).collect();
            let v = factor.solve(rhs);
            // The fraction of the way to `v` at which the first coefficient reaches zero.
            let crossing = |old: f64, new: f64| if sign(new) != sign(old) { old / (old - new) } else { f64::INFINITY };
            let reach = active.iter().zip(&v).map(|(&j, &v)| crossing(self.w[j], v)).fold(1.0f64, f64::min);
            for (&j, &v) in active.iter().zip(&v) {
                let old = self.w[j];
                self.w[j] = if crossing(old, v) <= reach { 0.0 } else { old + reach * (v - old) };
            }
            if reach >= 1.0 {
                break;
            }
            let dropped: Vec<usize> = (0..active.len()).rev().filter(|&k| self.w[active[k]] == 0.0).collect();
            for k in dropped {
                factor.remove(k);
                active.remove(k);
            }
        }
        // `G w` once, for every coefficient the steps moved.
        for (&j, old) in moved.iter().zip(&start) {
            let delta = self.w[j] - old;
            if delta != 0.0 {
                self.add_to_gw(j, delta);
            }
        }
        true
    }

    /// Keeps `G w` in step with `w[j]` moving by `delta`.
    fn add_to_gw(&mut self, j: usize, delta: f64) {
        let p = self.design.p;
        for (g, c) in self.gw.iter_mut().zip(&self.design.gram[j * p..(j + 1) * p]) {
            *g += c * delta;
        }
    }

    /// Mean squared residual of the centred fit: `yᵀy/n − 2 wᵀXᵀy/n + wᵀGw`.
    fn mse(&self) -> f64 {
        let wxy: f64 = self.w.iter().zip(&self.target.xty).map(|(w, c)| w * c).sum();
        let wgw: f64 = self.w.iter().zip(&self.gw).map(|(w, g)| w * g).sum();
        (self.target.yty - 2.0 * wxy + wgw).max(0.0)
    }

    fn model(&self) -> Linear {
        let intercept = self.target.y_mean - self.w.iter().zip(&self.design.x_mean).map(|(w, m)| w * m).sum::<f64>();
        Linear { intercept, coef: self.w.clone() }
    }
}

fn sign(x: f64) -> i8 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

/// The Cholesky factor `L` (lower triangular, `G_AA = L Lᵀ`) of the Gram matrix's rows and
/// columns `A`, row-major with a fixed stride, shrinking as coordinates leave `A`.
struct Cholesky {
    l: Vec<f64>,
    stride: usize,
    size: usize,
}

impl Cholesky {
    /// None where a pivot is not clearly positive (relative to its diagonal entry): `G_AA` is
    /// singular or nearly so.
    fn new(gram: &[f64], p: usize, active: &[usize]) -> Option<Cholesky> {
        let m = active.len();
        let mut l = vec![0.0; m * m];
        for (i, &gi) in active.iter().enumerate() {
            for (j, &gj) in active.iter().enumerate().take(i + 1) {
                let value = gram[gi * p + gj] - dot(&l[i * m..i * m + j], &l[j * m..j * m + j]);
                if i == j {
                    // The Gram matrix's diagonal is never negative, so this refuses `value <= 0` too.
                    if value <= 1e-10 * gram[gi * p + gi] {
                        return None;
                    }
                    l[i * m + i] = value.sqrt();
                } else {
                    l[i * m + j] = value / l[j * m + j];
                }
            }
        }
        Some(Cholesky { l, stride: m, size: m })
    }

    /// Solves `L Lᵀ x = b`.
    fn solve(&self, mut b: Vec<f64>) -> Vec<f64> {
        let (l, s) = (&self.l, self.stride);
        for i in 0..self.size {
            b[i] = (b[i] - dot(&l[i * s..i * s + i], &b[..i])) / l[i * s + i];
        }
        for i in (0..self.size).rev() {
            let later: f64 = (i + 1..self.size).map(|k| l[k * s + i] * b[k]).sum();
            b[i] = (b[i] - later) / l[i * s + i];
        }
        b
    }

    /// The factor of `G_AA` without its `r`-th row and column: `L` without its row `r`, made
    /// triangular again by Givens rotations of neighbouring columns.
    fn remove(&mut self, r: usize) {
        let (s, m) = (self.stride, self.size);
        for i in r..m - 1 {
            let (from, to) = ((i + 1) * s, i * s);
            self.l.copy_within(from..from + i + 2, to);
        }
        for k in r..m - 1 {
            let (a, b) = (self.l[k * s + k], self.l[k * s + k + 1]);
            let h = a.hypot(b);
            let (c, sn) = (a / h, b / h);
            for i in k..m - 1 {
                let (x, y) = (self.l[i * s + k], self.l[i * s + k + 1]);
                self.l[i * s + k] = c * x + sn * y;
                self.l[i * s + k + 1] = -sn * x + c * y;
            }
            self.l[k * s + k + 1] = 0.0;
        }
        self.size = m - 1;
    }
}

/// `a · b`, in four running sums (which the compiler keeps in vector registers).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut sums = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4.remainder().iter().zip(b4.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a4.zip(b4) {
        for k in 0..4 {
            sums[k] += x[k] * y[k];
        }
    }
    sums.iter().sum::<f64>() + tail
}

fn soft_threshold(x: f64, t: f64) -> f64 {
    if x > t {
        x - t
    } else if x < -t {
        x + t
    } else {
        0.0
    }
}

/// The lasso at one penalty, from a cold start.
pub fn fit(design: &Design, y: &[f64], alpha: f64, config: &PathConfig) -> Linear {
    let target = Target::new(design, y);
    let mut solver = Solver { design, target: &target, w: vec![0.0; design.p], gw: vec![0.0; design.p] };
    solver.solve(alpha, config);
    solver.model()
}

/// [`fit_aic`] on `design`; or, given `criterion` ([`Selection::criterion_design`]), the lasso
/// on `design` at the penalty the criterion chooses on `criterion` (the returned `aic` is then
/// that fit's).
pub fn fit_aic_with(design: &Design, criterion: Option<&Design>, y: &[f64], config: &PathConfig) -> Selected {
    let Some(criterion) = criterion else { return fit_aic(design, y, config) };
    let chosen = fit_aic(criterion, y, config);
    Selected { model: fit(design, y, chosen.alpha, config), ..chosen }
}

/// The model chosen along the path, its penalty and its criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub model: Linear,
    pub alpha: f64,
    pub aic: f64,
}

/// Walks the path from the penalty that zeroes every coefficient down to `min_ratio` of it and
/// keeps the fit with the lowest Akaike criterion, in the form scikit-learn's `LassoLarsIC`
/// used when the benchmark was published: `n · MSE / Var(y) + 2 · df`, df the count of nonzero
/// coefficients. A constant target gets the intercept-only model.
///
/// Like LARS, the walk ends once `n − 1` coefficients are active (the fit interpolates from
/// there on); it also ends after `patience` penalties without a better criterion, since the
/// criterion only grows once the penalty is too small to matter (this is where coordinate
/// descent is slowest).
pub fn fit_aic(design: &Design, y: &[f64], config: &PathConfig) -> Selected {
    let target = Target::new(design, y);
    let n = design.n as f64;
    let mut solver = Solver { design, target: &target, w: vec![0.0; design.p], gw: vec![0.0; design.p] };
    let alpha_max = target.xty.iter().fold(0.0f64, |m, c| m.max(c.abs()));
    let variance = target.yty + f64::EPSILON;
    let mut best = Selected { model: solver.model(), alpha: alpha_max, aic: n * solver.mse() / variance };
    if alpha_max <= 0.0 || config.n_alphas < 2 {
        return best;
    }
    let step = config.min_ratio.ln() / (config.n_alphas - 1) as f64;
    let mut since_best = 0;
    for k in 1..config.n_alphas {
        let alpha = alpha_max * (step * k as f64).exp();
        solver.solve(alpha, config);
        let df = solver.w.iter().filter(|w| **w != 0.0).count();
        let aic = n * solver.mse() / variance + 2.0 * df as f64;
        if aic < best.aic {
            best = Selected { model: solver.model(), alpha, aic };
            since_best = 0;
        } else {
            since_best += 1;
        }
        if since_best >= config.patience || df + 1 >= design.n {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::prelude::*;
    use ndarray::{Array1, Array2};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn problem(n: usize, p: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let truth: Vec<f64> = (0..p)
            .map(|j| if j % 4 == 0 { (1.0 + j as f64 / 10.0) * if j % 8 == 0 { 1.0 } else { -1.0 } } else { 0.0 })
            .collect();
        let rows: Vec<Vec<f64>> =
            (0..n).map(|_| (0..p).map(|j| 0.5 + rng.gen_range(-1.0..1.0) * (1.0 + j as f64 * 0.1)).collect()).collect();
        let y = rows
            .iter()
            .map(|r| 3.0 + r.iter().zip(&truth).map(|(x, w)| x * w).sum::<f64>() + rng.gen_range(-0.3..0.3))
            .collect();
        (rows, y)
    }

    /// Rescaling the design gives what the rows divided by their centred L2 norms give.
    #[test]
    fn the_normalised_design_is_the_design_of_the_rows_normalised() {
        let (mut rows, _) = problem(50, 6, 3);
        rows.iter_mut().for_each(|r| r[5] = 2.0); // a constant column keeps its scale
        let norm = |j: usize| {
            let mean = rows.iter().map(|r| r[j]).sum::<f64>() / 50.0;
            let norm = rows.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>().sqrt();
            if norm > 0.0 { norm } else { 1.0 }
        };
        let scaled: Vec<Vec<f64>> =
            rows.iter().map(|r| r.iter().enumerate().map(|(j, v)| v / norm(j)).collect()).collect();
        let (derived, direct) = (Design::new(&rows).normalised(), Design::new(&scaled));
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + y.abs()));
        assert!(close(&derived.gram, &direct.gram) && close(&derived.columns, &direct.columns));
        assert!(close(&derived.x_mean, &direct.x_mean));
        assert!((0..5).all(|j| (derived.gram[j * 6 + j] * 50.0 - 1.0).abs() < 1e-12), "unit norms");
        assert!(Selection::Aic.criterion_design(&derived).is_none());
    }

    /// The epftoolbox rule: the penalty is the criterion's choice on the normalised columns and
    /// the model is the lasso at that penalty on the columns as they are. On columns already
    /// centred to unit L2 norm both rules are one; on columns of unit variance the penalty is
    /// the same number applied to columns √n times longer, a weaker penalty, so the model keeps
    /// at least as many coefficients.
    #[test]
    fn the_epftoolbox_selection_takes_the_normalised_criterions_penalty() {
        let (rows, y) = problem(120, 30, 11);
        let epf = PathConfig { selection: Selection::Epftoolbox, ..PathConfig::default() };
        let design = Design::new(&rows);
        let normalised = design.normalised();
        let chosen = fit_aic_with(&design, Some(&normalised), &y, &epf);
        assert_eq!(chosen.alpha, fit_aic(&normalised, &y, &epf).alpha);
        assert_eq!(chosen.model, fit(&design, &y, chosen.alpha, &epf));
        let plain = fit_aic_with(&design, None, &y, &PathConfig::default());
        assert_eq!(plain, fit_aic(&design, &y, &PathConfig::default()));
        assert!(
            chosen.model.nonzero() >= plain.model.nonzero(),
            "{} < {}",
            chosen.model.nonzero(),
            plain.model.nonzero()
        );
        assert!(chosen.alpha < plain.alpha / 5.0, "the normalised penalty {} against {}", chosen.alpha, plain.alpha);
        // Rows whose columns are normalised already: the two rules agree.
        let unit: Vec<Vec<f64>> =
            (0..rows.len()).map(|i| (0..30).map(|j| normalised.columns[j * 120 + i]).collect()).collect();
        let unit_design = Design::new(&unit);
        let unit_normalised = unit_design.normalised();
        let a = fit_aic_with(&unit_design, Some(&unit_normalised), &y, &epf);
        let b = fit_aic(&unit_design, &y, &PathConfig::default());
        assert!((a.alpha - b.alpha).abs() <= 1e-12 * b.alpha, "{} against {}", a.alpha, b.alpha);
        assert_eq!(a.model.nonzero(), b.model.nonzero());
    }

    /// Removing a row and column from the factor gives the factor of what is left.
    #[test]
    fn a_factor_with_a_coordinate_removed_is_the_factor_of_the_rest() {
        let (rows, _) = problem(80, 12, 5);
        let design = Design::new(&rows);
        let mut active: Vec<usize> = (0..12).collect();
        let mut factor = Cholesky::new(&design.gram, 12, &active).expect("positive definite");
        for r in [0, 5, 9, 3] {
            factor.remove(r);
            active.remove(r);
            let fresh = Cholesky::new(&design.gram, 12, &active).expect("positive definite");
            let b: Vec<f64> = (0..active.len()).map(|k| 1.0 + k as f64).collect();
            let (x, y) = (factor.solve(b.clone()), fresh.solve(b));
            assert!(x.iter().zip(&y).all(|(x, y)| (x - y).abs() <= 1e-9 * (1.0 + y.abs())), "{x:?} against {y:?}");
        }
    }

    /// Columns as correlated as neighbouring hours' prices (a shared smooth signal, little noise
    /// of their own): the solution meets the lasso's optimality conditions, `|Xⱼᵀr/n| ≤ alpha`,
    /// with equality and the coefficient's sign where it is nonzero.
    #[test]
    fn correlated_columns_get_the_lasso_solution() {
        let mut rng = SmallRng::seed_from_u64(17);
        let (n, p) = (300, 40);
        let mut level = 0.0;
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| {
                level = 0.95 * level + rng.gen_range(-1.0..1.0);
                (0..p).map(|j| level * (1.0 + j as f64 / 40.0) + rng.gen_range(-0.05..0.05)).collect()
            })
            .collect();
        let y: Vec<f64> = rows.iter().map(|r| r[3] - 0.5 * r[20] + 0.2 * r[37] + rng.gen_range(-0.1..0.1)).collect();
        let design = Design::new(&rows);
        let target = Target::new(&design, &y);
        for alpha in [1e-2, 1e-3, 1e-4, 1e-5] {
            let model = fit(&design, &y, alpha, &PathConfig { tolerance: 1e-9, ..PathConfig::default() });
            for j in 0..p {
                let gw: f64 = (0..p).map(|k| design.gram[j * p + k] * model.coef[k]).sum();
                let correlation = target.xty[j] - gw;
                if model.coef[j] == 0.0 {
                    assert!(correlation.abs() <= alpha * (1.0 + 1e-6), "alpha {alpha}, {j}: {correlation}");
                } else {
                    let expected = alpha * model.coef[j].signum();
                    assert!((correlation - expected).abs() <= 1e-6 * alpha, "alpha {alpha}, {j}: {correlation}");
                }
            }
        }
    }

    /// The reference: linfa-elasticnet with `l1_ratio = 1` minimises the same objective. Its
    /// intercept is the mean of `y` with `X` left uncentred, so it is given centred columns.
    #[test]
    fn agrees_with_linfa_elasticnet_at_several_penalties() {
        let (rows, y) = problem(120, 30, 7);
        let design = Design::new(&rows);
        let x = Array2::from_shape_fn((rows.len(), 30), |(i, j)| rows[i][j] - design.x_mean[j]);
        let dataset = Dataset::new(x, Array1::from(y.clone()));
        for alpha in [0.5, 0.1, 0.02, 0.003] {
            let ours = fit(&design, &y, alpha, &PathConfig { tolerance: 1e-12, ..PathConfig::default() });
            let theirs = linfa_elasticnet::ElasticNet::params()
                .penalty(alpha)
                .l1_ratio(1.0)
                .tolerance(1e-12)
                .max_iterations(100_000)
                .fit(&dataset)
                .expect("linfa fits");
            for (a, b) in ours.coef.iter().zip(theirs.hyperplane()) {
                assert!((a - b).abs() < 1e-6, "alpha {alpha}: {a} vs {b}");
            }
            let ours_at_centred =
                ours.intercept + ours.coef.iter().zip(&design.x_mean).map(|(w, m)| w * m).sum::<f64>();
            assert!((ours_at_centred - theirs.intercept()).abs() < 1e-6, "alpha {alpha}");
        }
    }

    #[test]
    fn the_largest_penalty_zeroes_everything_and_aic_recovers_the_support() {
        let (rows, y) = problem(400, 24, 3);
        let design = Design::new(&rows);
        let target = Target::new(&design, &y);
        let alpha_max = target.xty.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        assert_eq!(fit(&design, &y, alpha_max * 1.0001, &PathConfig::default()).nonzero(), 0);
        let chosen = fit_aic(&design, &y, &PathConfig::default());
        // Every true coefficient (every 4th) is found; AIC may keep a few small extras.
        for j in (0..24).step_by(4) {
            assert!(chosen.model.coef[j] != 0.0, "coefficient {j} dropped");
        }
        assert!(chosen.model.nonzero() <= 12, "{} nonzero", chosen.model.nonzero());
        let mean_abs_err: f64 =
            rows.iter().zip(&y).map(|(r, t)| (chosen.model.predict(r) - t).abs()).sum::<f64>() / y.len() as f64;
        assert!(mean_abs_err < 0.2, "in-sample MAE {mean_abs_err}");
    }

    #[test]
    fn a_constant_target_gets_the_intercept() {
        let (rows, _) = problem(50, 5, 1);
        let design = Design::new(&rows);
        let chosen = fit_aic(&design, &[4.0; 50], &PathConfig::default());
        assert_eq!(chosen.model.nonzero(), 0);
        assert!((chosen.model.intercept - 4.0).abs() < 1e-12);
    }
}
