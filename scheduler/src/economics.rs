//! What an ASIC earns at a power target and the target that earns most.
//!
//! A device at power `p` W earns `hashprice / 24 × H(p)` USD per hour (H: its hashrate-vs-power
//! curve, TH/s; hashprice in USD per TH/s per day) and pays `price × p / 10⁶` (price in USD/MWh).
//! The best target on the curve is found with argmin's Brent minimiser; asleep, a device draws
//! [`SLEEP_POWER_W`] and earns nothing.

use argmin::core::{CostFunction, Executor};
use argmin::solver::brent::BrentOpt;
use hcp_sim::asic::{AsicModel, SLEEP_POWER_W};

use crate::error::{Error, Result};

/// Per-device economics of one ASIC model.
#[derive(Debug, Clone)]
pub struct AsicEconomics {
    pub model: AsicModel,
}

/// A group's operating choice for one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Setting {
    Asleep,
    /// Hashing at this power target per device, W.
    Target(f64),
}

impl Setting {
    /// Power per device, W.
    pub fn power_w(self) -> f64 {
        match self {
            Setting::Asleep => SLEEP_POWER_W,
            Setting::Target(w) => w,
        }
    }
}

struct NegativeProfit<'a> {
    model: &'a AsicModel,
    usd_per_th_hour: f64,
    usd_per_wh: f64,
}

impl CostFunction for NegativeProfit<'_> {
    type Param = f64;
    type Output = f64;

    fn cost(&self, power_w: &f64) -> Result<f64, argmin::core::Error> {
        Ok(-(self.usd_per_th_hour * self.model.hashrate_at(*power_w) - self.usd_per_wh * power_w))
    }
}

impl AsicEconomics {
    pub fn new(model: AsicModel) -> AsicEconomics {
        AsicEconomics { model }
    }

    /// USD per device-hour at `setting`.
    pub fn profit_per_hour(&self, setting: Setting, price_usd_per_mwh: f64, hashprice_usd_per_ths_day: f64) -> f64 {
        let hash = match setting {
            Setting::Asleep => 0.0,
            Setting::Target(w) => self.model.hashrate_at(w),
        };
        hashprice_usd_per_ths_day / 24.0 * hash - price_usd_per_mwh * setting.power_w() / 1e6
    }

    /// The most profitable target on the curve at or below `max_w` (argmin's Brent), or
    /// asleep when that earns more (or when `max_w` is below the lowest stable power).
    pub fn best(&self, price_usd_per_mwh: f64, hashprice_usd_per_ths_day: f64, max_w: f64) -> Result<Setting> {
        let lo = self.model.min_power_w();
        let hi = self.model.max_power_w().min(max_w);
        if hi < lo {
            return Ok(Setting::Asleep);
        }
        let problem = NegativeProfit {
            model: &self.model,
            usd_per_th_hour: hashprice_usd_per_ths_day / 24.0,
            usd_per_wh: price_usd_per_mwh / 1e6,
        };
        let mut best = if hi - lo < 1e-6 {
            lo
        } else {
            let solver = BrentOpt::new(lo, hi).set_tolerance(1e-10, 1e-3);
            let result = Executor::new(problem, solver)
                .configure(|s| s.max_iters(200))
                .timer(false)
                .run()
                .map_err(|e| Error::Argmin(e.to_string()))?;
            result.state.best_param.unwrap_or(hi)
        };
        // The curve is piecewise linear: Brent lands within its tolerance of a vertex; the
        // interval's ends are checked too, so the answer is never worse than either end.
        for end in [lo, hi] {
            if self.profit_per_hour(Setting::Target(end), price_usd_per_mwh, hashprice_usd_per_ths_day)
                > self.profit_per_hour(Setting::Target(best), price_usd_per_mwh, hashprice_usd_per_ths_day)
            {
                best = end;
            }
        }
        let hashing = Setting::Target(best);
        Ok(
            if self.profit_per_hour(hashing, price_usd_per_mwh, hashprice_usd_per_ths_day)
                > self.profit_per_hour(Setting::Asleep, price_usd_per_mwh, hashprice_usd_per_ths_day)
            {
                hashing
            } else {
                Setting::Asleep
            },
        )
    }

    /// The price above which hashing at `power_w` earns less than sleeping, USD/MWh.
    pub fn breakeven_usd_per_mwh(&self, power_w: f64, hashprice_usd_per_ths_day: f64) -> f64 {
        hashprice_usd_per_ths_day / 24.0 * self.model.hashrate_at(power_w) / ((power_w - SLEEP_POWER_W) / 1e6)
    }
}

/// One group as the allocation sees it.
#[derive(Debug, Clone)]
pub struct GroupSlot<'a> {
    pub economics: &'a AsicEconomics,
    /// Devices that can be commanded (failed ones excluded).
    pub devices: usize,
}

/// Settings of every group that earn most in a step at `price` within `budget_w` of ASIC
/// power: each group takes its best target at the price plus a shadow price of the budget,
/// found by bisection; groups the shadow price puts to sleep are then woken at the highest
/// target that still fits, if that earns more than sleeping.
pub fn allocate(
    groups: &[GroupSlot<'_>],
    price_usd_per_mwh: f64,
    hashprice: f64,
    budget_w: f64,
) -> Result<Vec<Setting>> {
    let draw = |s: &[Setting]| -> f64 { groups.iter().zip(s).map(|(g, s)| g.devices as f64 * s.power_w()).sum() };
    let at = |shadow: f64| -> Result<Vec<Setting>> {
        groups.iter().map(|g| g.economics.best(price_usd_per_mwh + shadow, hashprice, f64::INFINITY)).collect()
    };
    let asleep: f64 = groups.iter().map(|g| g.devices as f64 * SLEEP_POWER_W).sum();
    if budget_w < asleep {
        return Err(Error::Config(format!(
            "power budget {budget_w:.0} W is below the {asleep:.0} W the groups draw asleep"
        )));
    }
    let mut settings = at(0.0)?;
    if draw(&settings) > budget_w {
        let (mut lo, mut hi) = (0.0, 1.0);
        while draw(&at(hi)?) > budget_w {
            hi *= 2.0;
            if hi > 1e9 {
                break;
            }
        }
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            if draw(&at(mid)?) > budget_w { lo = mid } else { hi = mid }
        }
        settings = at(hi)?;
        if draw(&settings) > budget_w {
            settings = vec![Setting::Asleep; groups.len()];
        }
    }
    // Fill what the shadow price left unused, best earner per watt first.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| {
        let e = |i: usize| {
            let m = &groups[i].economics.model;
            m.stock.hashrate_ths / m.stock.power_w
        };
        e(b).total_cmp(&e(a))
    });
    for i in order {
        let g = &groups[i];
        if g.devices == 0 {
            continue;
        }
        let others = draw(&settings) - g.devices as f64 * settings[i].power_w();
        let per_device = (budget_w - others) / g.devices as f64;
        let candidate = g.economics.best(price_usd_per_mwh, hashprice, per_device)?;
        let earn = |s: Setting| g.economics.profit_per_hour(s, price_usd_per_mwh, hashprice);
        if candidate.power_w() <= per_device && earn(candidate) > earn(settings[i]) {
            settings[i] = candidate;
        }
    }
    Ok(settings)
}

/// Mining profit of the best allocation as a function of the ASIC power budget, tabulated on
/// `points` budgets from all-asleep to all-at-maximum: concave in practice, interpolated
/// linearly by [`BudgetTable::profit_at`].
#[derive(Debug, Clone)]
pub struct BudgetTable {
    budgets_w: Vec<f64>,
    profit_usd_per_hour: Vec<f64>,
}

impl BudgetTable {
    pub fn build(groups: &[GroupSlot<'_>], price: f64, hashprice: f64, points: usize) -> Result<BudgetTable> {
        let asleep: f64 = groups.iter().map(|g| g.devices as f64 * SLEEP_POWER_W).sum();
        let full: f64 = groups.iter().map(|g| g.devices as f64 * g.economics.model.max_power_w()).sum();
        let mut budgets_w = Vec::with_capacity(points);
        let mut profit = Vec::with_capacity(points);
        for i in 0..points.max(2) {
            let b = asleep + (full - asleep) * i as f64 / (points.max(2) - 1) as f64;
            let s = allocate(groups, price, hashprice, b)?;
            let p: f64 = groups
                .iter()
                .zip(&s)
                .map(|(g, s)| g.devices as f64 * g.economics.profit_per_hour(*s, price, hashprice))
                .sum();
            budgets_w.push(b);
            profit.push(p);
        }
        // More budget never earns less: the allocation may leave budget unused.
        for i in 1..profit.len() {
            profit[i] = profit[i].max(profit[i - 1]);
        }
        Ok(BudgetTable { budgets_w, profit_usd_per_hour: profit })
    }

    /// Mining profit per hour with `budget_w` for the ASICs; below all-asleep it is -infinity.
    pub fn profit_at(&self, budget_w: f64) -> f64 {
        let b = &self.budgets_w;
        if budget_w < b[0] - 1e-6 {
            return f64::NEG_INFINITY;
        }
        let i = b.partition_point(|&x| x < budget_w).clamp(1, b.len() - 1);
        let w = ((budget_w - b[i - 1]) / (b[i] - b[i - 1]).max(1e-9)).clamp(0.0, 1.0);
        self.profit_usd_per_hour[i - 1] + w * (self.profit_usd_per_hour[i] - self.profit_usd_per_hour[i - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcp_sim::asic::AsicCatalog;

    fn s19() -> AsicEconomics {
        AsicEconomics::new(AsicCatalog::builtin().get("Antminer S19j Pro").unwrap().clone())
    }

    #[test]
    fn best_target_is_the_curve_optimum_found_by_scanning() {
        let e = s19();
        for price in [-20.0, 0.0, 25.0, 45.0, 60.0, 80.0, 500.0] {
            let hp = 0.05;
            let best = e.best(price, hp, f64::INFINITY).unwrap();
            let (lo, hi) = (e.model.min_power_w(), e.model.max_power_w());
            let scanned = (0..=4000)
                .map(|i| lo + (hi - lo) * i as f64 / 4000.0)
                .map(|w| e.profit_per_hour(Setting::Target(w), price, hp))
                .fold(e.profit_per_hour(Setting::Asleep, price, hp), f64::max);
            let got = e.profit_per_hour(best, price, hp);
            assert!(got >= scanned - 1e-5, "price {price}: {got} < scan {scanned}");
        }
        // Dear power puts it to sleep; free power runs it flat out.
        assert_eq!(e.best(5000.0, 0.05, f64::INFINITY).unwrap(), Setting::Asleep);
        assert_eq!(e.best(-10.0, 0.05, f64::INFINITY).unwrap(), Setting::Target(e.model.max_power_w()));
    }

    #[test]
    fn breakeven_separates_hashing_from_sleeping() {
        let e = s19();
        let w = e.model.stock.power_w;
        let be = e.breakeven_usd_per_mwh(w, 0.05);
        let earn = |p: f64, s| e.profit_per_hour(s, p, 0.05);
        assert!(earn(be - 1.0, Setting::Target(w)) > earn(be - 1.0, Setting::Asleep));
        assert!(earn(be + 1.0, Setting::Target(w)) < earn(be + 1.0, Setting::Asleep));
    }

    #[test]
    fn allocation_respects_the_budget_and_uses_it() {
        let e = s19();
        let groups = [GroupSlot { economics: &e, devices: 100 }, GroupSlot { economics: &e, devices: 50 }];
        for budget in [2_250.0, 50_000.0, 200_000.0, 330_000.0, 1e7] {
            let s = allocate(&groups, 30.0, 0.05, budget).unwrap();
            let drawn: f64 = groups.iter().zip(&s).map(|(g, s)| g.devices as f64 * s.power_w()).sum();
            assert!(drawn <= budget + 1e-6, "budget {budget}: drew {drawn}");
        }
        assert!(allocate(&groups, 30.0, 0.05, 100.0).is_err());
    }
}
