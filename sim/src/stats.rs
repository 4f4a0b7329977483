//! Statistics shared by calibration and its checks: the normal distribution, empirical
//! quantiles, autocorrelation, and the summary that compares a synthetic price series with a
//! real one.

use serde::{Deserialize, Serialize};

/// Standard normal CDF. `erfc` by the Chebyshev fit of Numerical Recipes (fractional error
/// below 1.2e-7 everywhere), which is ample for mapping latent values to quantile levels.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Inverse of the standard normal CDF for `p` in (0, 1): Acklam's rational approximation
/// (relative error 1.15e-9) followed by one Halley step against [`normal_cdf`].
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let low = 0.024_25;
    let x = if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// Quantile of sorted data at `level`, linear between order statistics (Hyndman-Fan type 7,
/// numpy's and polars' default).
pub fn quantile_sorted(sorted: &[f64], level: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of an empty sample");
    let h = (sorted.len() - 1) as f64 * level.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Pearson correlation of `x[t]` and `x[t + lag]` over the pairs where both are present
/// (gaps are `None` and break no alignment).
pub fn autocorrelation(series: &[Option<f64>], lag: usize) -> f64 {
    let pairs: Vec<(f64, f64)> =
        series.iter().zip(series.iter().skip(lag)).filter_map(|(a, b)| Some(((*a)?, (*b)?))).collect();
    correlation(&pairs)
}

pub fn correlation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    if n < 3.0 {
        return f64::NAN;
    }
    let (ma, mb) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for &(a, b) in pairs {
        sab += (a - ma) * (b - mb);
        saa += (a - ma) * (a - ma);
        sbb += (b - mb) * (b - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// Quantile levels reported in [`PriceStats`].
pub const REPORTED_LEVELS: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

/// Price above which an hour counts as a spike, USD/MWh (the and ERCOT operators'
/// usual threshold).
pub const SPIKE_USD_PER_MWH: f64 = 100.0;

/// The statistics a synthetic price series must reproduce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceStats {
    pub hours: usize,
    pub mean: f64,
    /// Values at [`REPORTED_LEVELS`].
    pub quantiles: Vec<f64>,
    /// Share of hours above [`SPIKE_USD_PER_MWH`].
    pub spike_rate: f64,
    /// Share of hours below zero.
    pub negative_rate: f64,
    pub acf_1h: f64,
    pub acf_24h: f64,
    pub acf_168h: f64,
}

impl PriceStats {
    /// Statistics of an hourly series on a regular grid (`None` marks a missing hour).
    pub fn of_hourly(series: &[Option<f64>]) -> PriceStats {
        let mut present: Vec<f64> = series.iter().flatten().copied().collect();
        present.sort_by(f64::total_cmp);
        let n = present.len() as f64;
        PriceStats {
            hours: present.len(),
            mean: mean(&present),
            quantiles: REPORTED_LEVELS.iter().map(|&l| quantile_sorted(&present, l)).collect(),
            spike_rate: present.iter().filter(|&&p| p > SPIKE_USD_PER_MWH).count() as f64 / n,
            negative_rate: present.iter().filter(|&&p| p < 0.0).count() as f64 / n,
            acf_1h: autocorrelation(series, 1),
            acf_24h: autocorrelation(series, 24),
            acf_168h: autocorrelation(series, 168),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from any normal table (e.g. scipy.stats.norm.cdf / ppf).
    #[test]
    fn normal_cdf_and_quantile_match_tables() {
        for (x, p) in [(0.0, 0.5), (1.0, 0.841_344_746), (-1.959_963_985, 0.025), (3.090_232_306, 0.999)] {
            assert!((normal_cdf(x) - p).abs() < 2e-7, "cdf({x}) = {}", normal_cdf(x));
            assert!((normal_quantile(p) - x).abs() < 1e-6, "ppf({p}) = {}", normal_quantile(p));
        }
        for i in 1..1000 {
            let p = i as f64 / 1000.0;
            assert!((normal_cdf(normal_quantile(p)) - p).abs() < 1e-9);
        }
    }

    /// numpy.quantile([1, 2, 3, 4, 10], [0.1, 0.5, 0.9]) = [1.4, 3.0, 7.6].
    #[test]
    fn quantiles_are_type_7() {
        let xs = [1.0, 2.0, 3.0, 4.0, 10.0];
        for (l, v) in [(0.1, 1.4), (0.5, 3.0), (0.9, 7.6)] {
            assert!((quantile_sorted(&xs, l) - v).abs() < 1e-12);
        }
    }

    #[test]
    fn autocorrelation_of_a_period_24_wave_and_gaps() {
        let s: Vec<Option<f64>> = (0..24 * 30).map(|h| Some((h as f64 * std::f64::consts::TAU / 24.0).sin())).collect();
        assert!((autocorrelation(&s, 24) - 1.0).abs() < 1e-9);
        assert!((autocorrelation(&s, 12) + 1.0).abs() < 1e-9);
        let mut gappy = s.clone();
        gappy.iter_mut().step_by(5).for_each(|x| *x = None);
        assert!((autocorrelation(&gappy, 24) - 1.0).abs() < 1e-9);
    }
}
