//! What an ASIC group earns at an operating point, and the operating points that earn most
//! within a power budget.
//!
//! A device at power `p` W earns `hashprice / 24 × H(p)` USD per hour (H: its model's
//! hashrate-vs-power curve, TH/s, piecewise linear; hashprice in USD per TH/s per day) and pays
//! `price × p / 10⁶` (price in USD/MWh); asleep it draws [`SLEEP_POWER_W`] and earns nothing.
//! A group is told one power target and how many of its devices stay awake.
//!
//! Within a budget the allocation is a concave resource problem. Its Lagrangian dual (one
//! shadow price of the budget) is minimised with argmin's Brent solver; at the shadow price
//! every device takes the steps up its model's concave hull that earn more than it, and the
//! one marginal step is filled with what budget is left. Steps between curve points are
//! linear, so a group's mix of two adjacent points is the same as one target between them:
//! the result is a single target per group with an awake count, and it earns what the
//! per-device relaxation ([`BudgetTable`]) earns.

use argmin::core::{CostFunction, Executor};
use argmin::solver::brent::BrentOpt;
use hcp_sim::asic::{AsicModel, SLEEP_POWER_W};

use crate::error::{Error, Result};

/// Per-device economics of one ASIC model.
#[derive(Debug, Clone)]
pub struct AsicEconomics {
    pub model: AsicModel,
    /// Upper concave hull of (power, hashrate) over asleep and the curve's points.
    hull: Vec<(f64, f64)>,
}

/// A group's operating point for one step: `awake` devices hash at `target_w`, the others
/// sleep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    pub target_w: f64,
    pub awake: usize,
}

impl Setting {
    pub fn all(target_w: f64, devices: usize) -> Setting {
        Setting { target_w, awake: devices }
    }

    pub fn asleep(target_w: f64) -> Setting {
        Setting { target_w, awake: 0 }
    }

    /// The group's draw with `devices` devices, W.
    pub fn draw_w(&self, devices: usize) -> f64 {
        let awake = self.awake.min(devices);
        awake as f64 * self.target_w + (devices - awake) as f64 * SLEEP_POWER_W
    }
}

fn upper_hull(model: &AsicModel) -> Vec<(f64, f64)> {
    let mut points = vec![(SLEEP_POWER_W, 0.0)];
    points.extend(model.curve.iter().map(|p| (p.power_w, p.hashrate_ths)));
    let mut h: Vec<(f64, f64)> = Vec::new();
    for p in points {
        while h.len() >= 2 {
            let (a, b) = (h[h.len() - 2], h[h.len() - 1]);
            // Drop b when it lies on or below the chord from a to p.
            if (b.1 - a.1) * (p.0 - a.0) <= (p.1 - a.1) * (b.0 - a.0) {
                h.pop();
            } else {
                break;
            }
        }
        h.push(p);
    }
    h
}

impl AsicEconomics {
    pub fn new(model: AsicModel) -> AsicEconomics {
        let hull = upper_hull(&model);
        AsicEconomics { model, hull }
    }

    /// USD per device-hour hashing at `power_w`, or asleep (`None`).
    pub fn device_profit(&self, power_w: Option<f64>, price: f64, hashprice: f64) -> f64 {
        match power_w {
            Some(w) => hashprice / 24.0 * self.model.hashrate_at(w) - price * w / 1e6,
            None => -price * SLEEP_POWER_W / 1e6,
        }
    }

    /// USD per hour of a group of `devices` at `setting`.
    pub fn group_profit(&self, setting: Setting, devices: usize, price: f64, hashprice: f64) -> f64 {
        let awake = setting.awake.min(devices);
        awake as f64 * self.device_profit(Some(setting.target_w), price, hashprice)
            + (devices - awake) as f64 * self.device_profit(None, price, hashprice)
    }

    /// The price above which hashing at `power_w` earns less than sleeping, USD/MWh.
    pub fn breakeven_usd_per_mwh(&self, power_w: f64, hashprice: f64) -> f64 {
        hashprice / 24.0 * self.model.hashrate_at(power_w) / ((power_w - SLEEP_POWER_W) / 1e6)
    }

    /// Steps up the hull: (profit per watt, watts per device).
    fn steps(&self, price: f64, hashprice: f64) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.hull.windows(2).map(move |w| {
            let (dp, dh) = (w[1].0 - w[0].0, w[1].1 - w[0].1);
            ((hashprice / 24.0 * dh - price * dp / 1e6) / dp, dp)
        })
    }

    /// Per-device power at shadow price `shadow` ($/W-hour on top of the price): the hull
    /// vertex reached by taking every step that earns more than the shadow price.
    fn power_at(&self, price: f64, hashprice: f64, shadow: f64) -> f64 {
        let mut p = SLEEP_POWER_W;
        for (per_watt, dp) in self.steps(price, hashprice) {
            if per_watt > shadow {
                p += dp;
            } else {
                break;
            }
        }
        p
    }
}

/// One group as the allocation sees it.
#[derive(Debug, Clone)]
pub struct GroupSlot<'a> {
    pub economics: &'a AsicEconomics,
    /// Devices that can be commanded (failed ones excluded).
    pub devices: usize,
}

/// The Lagrangian dual of the budgeted allocation at shadow price `x` (USD per W-hour).
struct Dual<'a> {
    groups: &'a [GroupSlot<'a>],
    price: f64,
    hashprice: f64,
    budget_w: f64,
}

impl CostFunction for Dual<'_> {
    type Param = f64;
    type Output = f64;

    fn cost(&self, shadow: &f64) -> Result<f64, argmin::core::Error> {
        let mut value = shadow * self.budget_w;
        for g in self.groups {
            let p = g.economics.power_at(self.price, self.hashprice, *shadow);
            let earn = if p > SLEEP_POWER_W { Some(p) } else { None };
            value += g.devices as f64 * (g.economics.device_profit(earn, self.price, self.hashprice) - shadow * p);
        }
        Ok(value)
    }
}

/// Settings of every group that earn most in an hour at `price` within `budget_w` of ASIC
/// power (module docs). Errors when the budget is below what the groups draw asleep.
pub fn allocate(groups: &[GroupSlot<'_>], price: f64, hashprice: f64, budget_w: f64) -> Result<Vec<Setting>> {
    let asleep: f64 = groups.iter().map(|g| g.devices as f64 * SLEEP_POWER_W).sum();
    if budget_w < asleep - 1e-6 {
        return Err(Error::Config(format!(
            "power budget {budget_w:.0} W is below the {asleep:.0} W the groups draw asleep"
        )));
    }
    let draw = |shadow: f64| -> f64 {
        groups.iter().map(|g| g.devices as f64 * g.economics.power_at(price, hashprice, shadow)).sum()
    };
    // The shadow price: zero when everything profitable fits, else the dual's minimiser.
    let mut shadow = 0.0;
    if draw(0.0) > budget_w {
        let top = groups.iter().flat_map(|g| g.economics.steps(price, hashprice)).map(|s| s.0).fold(0.0, f64::max);
        let problem = Dual { groups, price, hashprice, budget_w };
        let result = Executor::new(problem, BrentOpt::new(0.0, top.max(1e-12)).set_tolerance(1e-12, 1e-15))
            .configure(|s| s.max_iters(200))
            .timer(false)
            .run()
            .map_err(|e| Error::Argmin(e.to_string()))?;
        shadow = result.state.best_param.unwrap_or(top);
        // The dual is piecewise linear: its minimiser is a step's profit per watt; make sure
        // the steps taken at the shadow price fit.
        while draw(shadow) > budget_w + 1e-6 {
            shadow = groups
                .iter()
                .flat_map(|g| g.economics.steps(price, hashprice))
                .map(|s| s.0)
                .filter(|&m| m > shadow)
                .fold(f64::INFINITY, f64::min);
            if !shadow.is_finite() {
                break;
            }
        }
    }
    // Every device at its vertex for the shadow price...
    let power: Vec<f64> = groups.iter().map(|g| g.economics.power_at(price, hashprice, shadow)).collect();
    let left = budget_w - groups.iter().zip(&power).map(|(g, p)| g.devices as f64 * p).sum::<f64>();
    // ...then the next steps that still earn, best first, bought with what is left: a step
    // bought by part of a group becomes a target between two points or an awake count.
    let mut next: Vec<(f64, usize)> = groups
        .iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let at = power[i];
            g.economics
                .steps(price, hashprice)
                .scan(SLEEP_POWER_W, |p, (m, dp)| {
                    let from = *p;
                    *p += dp;
                    Some((from, m, dp))
                })
                .find(|(from, _, _)| (*from - at).abs() < 1e-6)
                .filter(|(_, m, _)| *m > 0.0)
                .map(|(_, m, _)| (m, i))
        })
        .collect();
    next.sort_by(|a, b| b.0.total_cmp(&a.0));
    let base: Vec<Setting> = groups
        .iter()
        .zip(&power)
        .map(|(g, &p)| {
            if p > SLEEP_POWER_W {
                Setting::all(p, g.devices)
            } else {
                Setting::asleep(g.economics.model.stock.power_w)
            }
        })
        .collect();
    // The marginal steps in order of profit per watt; where a step skips a point of a curve
    // that is not concave, a group's one target earns less than the relaxation's mix, so the
    // other orders of the (few) marginal groups are tried too and the best kept.
    let order: Vec<usize> = next.iter().map(|n| n.1).collect();
    let mut best = fill_steps(groups, price, hashprice, &base, &power, left, &order);
    if order.len() <= 5 {
        for perm in permutations(&order) {
            let s = fill_steps(groups, price, hashprice, &base, &power, left, &perm);
            let earn = |s: &[Setting]| -> f64 {
                groups.iter().zip(s).map(|(g, s)| g.economics.group_profit(*s, g.devices, price, hashprice)).sum()
            };
            if earn(&s) > earn(&best) + 1e-9 {
                best = s;
            }
        }
    }
    // Whole devices: one device's worth of budget can be a large share of a small group, and
    // what the steps leave over goes unspent; each group in turn gets the best awake count and
    // target for its draw plus what is left (never less than it had).
    let mut left = budget_w - groups.iter().zip(&best).map(|(g, s)| s.draw_w(g.devices)).sum::<f64>();
    for (g, s) in groups.iter().zip(best.iter_mut()) {
        let available = s.draw_w(g.devices) + left.max(0.0);
        *s = best_count(g, available, price, hashprice, *s);
        left = available - s.draw_w(g.devices);
    }
    Ok(best)
}

/// The best of `current` and every (awake count, target) whose draw fits `available` W. The
/// device profit is piecewise linear in the target (the hashrate curve is), so for a fixed target
/// the group's profit is linear in the count, and with the highest target that fits (`t_k = sleep
/// + extra / k`) it is linear in `k` while `t_k` stays between two curve points: the best lies at
/// a count where `t_k` meets a curve point (either side of it), at one awake, or at all awake;
/// at each, the target is `t_k` or the best curve point below it.
fn best_count(g: &GroupSlot<'_>, available: f64, price: f64, hashprice: f64, current: Setting) -> Setting {
    let e = g.economics;
    let n = g.devices;
    let (lo, hi) = (e.model.min_power_w(), e.model.max_power_w());
    let earn = |s: Setting| e.group_profit(s, n, price, hashprice);
    let extra = available - n as f64 * SLEEP_POWER_W;
    let mut best = (earn(current), current);
    if n == 0 || extra <= 0.0 {
        return best.1;
    }
    let points: Vec<f64> = e.model.curve.iter().map(|p| p.power_w).collect();
    let mut counts: Vec<usize> = vec![1, n];
    for &p in &points {
        let k = (extra / (p - SLEEP_POWER_W)).floor() as usize;
        counts.extend([k, k + 1]);
    }
    for k in counts.into_iter().filter(|&k| (1..=n).contains(&k)) {
        let fits = (SLEEP_POWER_W + extra / k as f64).min(hi);
        if fits < lo {
            continue;
        }
        for target_w in points.iter().copied().filter(|&w| w <= fits).chain([fits]) {
            let s = Setting { target_w, awake: k };
            let profit = earn(s);
            if profit > best.0 + 1e-9 {
                best = (profit, s);
            }
        }
    }
    best.1
}

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

/// Buys the next step of each group in `order` with the `left` budget.
fn fill_steps(
    groups: &[GroupSlot<'_>],
    price: f64,
    hashprice: f64,
    base: &[Setting],
    power: &[f64],
    mut left: f64,
    order: &[usize],
) -> Vec<Setting> {
    let mut settings = base.to_vec();
    for &i in order {
        if left <= 1e-6 {
            break;
        }
        let g = &groups[i];
        let Some((_, dp)) = g
            .economics
            .steps(price, hashprice)
            .scan(SLEEP_POWER_W, |p, (m, dp)| {
                let from = *p;
                *p += dp;
                Some((from, (m, dp)))
            })
            .find(|(from, _)| (*from - power[i]).abs() < 1e-6)
            .map(|(_, s)| s)
        else {
            continue;
        };
        if power[i] <= SLEEP_POWER_W {
            // From asleep: wake as many as fit at the step's top.
            let k = ((left / dp).floor() as usize).min(g.devices);
            if k > 0 {
                settings[i] = Setting { target_w: SLEEP_POWER_W + dp, awake: k };
                left -= k as f64 * dp;
            }
        } else {
            // Awake: raise everyone's target part of the way up the step, or (where the curve
            // bends below the step) run fewer devices at its top, or stay; whichever earns more.
            let n = g.devices as f64;
            let raise = (left / n).min(dp);
            let uniform = Setting::all(power[i] + raise, g.devices);
            let budget = n * power[i] + left;
            let top = power[i] + dp;
            let k = (((budget - n * SLEEP_POWER_W) / (top - SLEEP_POWER_W)).floor().max(0.0) as usize).min(g.devices);
            let fewer = Setting { target_w: top, awake: k };
            let earn = |s: Setting| g.economics.group_profit(s, g.devices, price, hashprice);
            settings[i] = [uniform, fewer].into_iter().fold(settings[i], |b, s| if earn(s) > earn(b) { s } else { b });
            left = budget - settings[i].draw_w(g.devices);
        }
    }
    // What is still left raises the awake devices' targets where that earns more.
    for &i in order {
        let (g, s) = (&groups[i], settings[i]);
        if s.awake == 0 || left <= 1e-6 {
            continue;
        }
        let model = &g.economics.model;
        let top = model.max_power_w().min(s.target_w + left / s.awake as f64);
        let earn = |w: f64| g.economics.device_profit(Some(w), price, hashprice);
        let best = model
            .curve
            .iter()
            .map(|p| p.power_w)
            .filter(|&w| w > s.target_w && w < top)
            .chain([top])
            .fold(s.target_w, |b, w| if earn(w) > earn(b) { w } else { b });
        left -= (best - s.target_w) * s.awake as f64;
        settings[i].target_w = best;
    }
    settings
}

/// Mining profit per hour as a function of the ASIC power budget, for devices that can be set
/// one by one (the LP relaxation of one hour): every device starts asleep and the budget buys
/// the steps up each model's upper concave hull in order of profit per watt, while that is
/// positive. Exact and piecewise linear; the genetic algorithm's fitness reads it many times
/// per plan.
#[derive(Debug, Clone)]
pub struct BudgetTable {
    budgets_w: Vec<f64>,
    profit_usd_per_hour: Vec<f64>,
}

impl BudgetTable {
    pub fn build(groups: &[GroupSlot<'_>], price: f64, hashprice: f64) -> BudgetTable {
        let asleep: f64 = groups.iter().map(|g| g.devices as f64 * SLEEP_POWER_W).sum();
        let mut steps: Vec<(f64, f64)> = groups
            .iter()
            .filter(|g| g.devices > 0)
            .flat_map(|g| g.economics.steps(price, hashprice).map(move |(m, dp)| (m, dp * g.devices as f64)))
            .collect();
        steps.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut budgets_w = vec![asleep];
        let mut profit = vec![-price * asleep / 1e6];
        for (per_watt, watts) in steps.into_iter().take_while(|s| s.0 > 0.0) {
            budgets_w.push(budgets_w[budgets_w.len() - 1] + watts);
            profit.push(profit[profit.len() - 1] + per_watt * watts);
        }
        BudgetTable { budgets_w, profit_usd_per_hour: profit }
    }

    /// Mining profit per hour with `budget_w` for the ASICs; below all-asleep it is -infinity.
    pub fn profit_at(&self, budget_w: f64) -> f64 {
        let b = &self.budgets_w;
        if budget_w < b[0] - 1e-6 {
            return f64::NEG_INFINITY;
        }
        if budget_w >= b[b.len() - 1] {
            return self.profit_usd_per_hour[b.len() - 1];
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
    use proptest::prelude::*;

    fn econ(name: &str) -> AsicEconomics {
        AsicEconomics::new(AsicCatalog::builtin().get(name).unwrap().clone())
    }

    fn earned(groups: &[GroupSlot<'_>], s: &[Setting], price: f64, hp: f64) -> f64 {
        groups.iter().zip(s).map(|(g, s)| g.economics.group_profit(*s, g.devices, price, hp)).sum()
    }

    #[test]
    fn breakeven_separates_hashing_from_sleeping() {
        let e = econ("Antminer S19j Pro");
        let w = e.model.stock.power_w;
        let be = e.breakeven_usd_per_mwh(w, 0.05);
        assert!(e.device_profit(Some(w), be - 1.0, 0.05) > e.device_profit(None, be - 1.0, 0.05));
        assert!(e.device_profit(Some(w), be + 1.0, 0.05) < e.device_profit(None, be + 1.0, 0.05));
    }

    /// Uncapped, each device goes to the curve point with the best margin, found by scanning.
    #[test]
    fn uncapped_targets_are_the_best_points_by_scan() {
        let e = econ("Antminer S19j Pro");
        let groups = [GroupSlot { economics: &e, devices: 10 }];
        for price in [-20.0, 0.0, 25.0, 45.0, 60.0, 80.0, 500.0, 5000.0] {
            let s = allocate(&groups, price, 0.05, 1e9).unwrap();
            let scanned = e
                .model
                .curve
                .iter()
                .map(|p| e.device_profit(Some(p.power_w), price, 0.05))
                .fold(e.device_profit(None, price, 0.05), f64::max);
            let got = e.group_profit(s[0], 10, price, 0.05) / 10.0;
            assert!((got - scanned).abs() < 1e-9, "price {price}: {got} vs {scanned} ({s:?})");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The argmin allocation never draws more than its budget and never earns more than the
        /// per-device relaxation (the LP bound's hour).
        #[test]
        fn allocation_fits_the_budget_and_matches_the_relaxation(
            n1 in 0usize..3000, n2 in 0usize..1000, price in -50.0f64..300.0, hp in 0.02f64..0.09, share in 0.0f64..1.2,
        ) {
            let (a, b) = (econ("Antminer S19j Pro"), econ("Antminer S21"));
            let groups = [GroupSlot { economics: &a, devices: n1 }, GroupSlot { economics: &b, devices: n2 }];
            let asleep = (n1 + n2) as f64 * SLEEP_POWER_W;
            let full = n1 as f64 * a.model.max_power_w() + n2 as f64 * b.model.max_power_w();
            let budget = asleep + share * (full - asleep);
            let s = allocate(&groups, price, hp, budget).unwrap();
            let drawn: f64 = groups.iter().zip(&s).map(|(g, s)| s.draw_w(g.devices)).sum();
            prop_assert!(drawn <= budget + 1e-3, "drew {} of {}", drawn, budget);
            let got = earned(&groups, &s, price, hp);
            let bound = BudgetTable::build(&groups, price, hp).profit_at(budget);
            prop_assert!(got <= bound + 1e-6);
        }

        /// For one group it is within 0.5 % of the best single target and awake count, found by
        /// scanning targets every watt with as many devices awake as the budget allows (the
        /// allocation's last pass searches awake counts; a group of 27 once lost 0.6 % to the
        /// device's worth of budget the steps left unspent: the regression file's case). (The
        /// relaxation can earn more: the S19j Pro's measured curve is not concave, and
        /// devices split between 1,905 W and 3,100 W beat any one target between them.)
        #[test]
        fn one_group_gets_the_best_target_and_awake_count(
            n in 1usize..2000, price in -50.0f64..300.0, hp in 0.02f64..0.09, share in 0.0f64..1.1,
        ) {
            let e = econ("Antminer S19j Pro");
            let groups = [GroupSlot { economics: &e, devices: n }];
            let (lo, hi) = (e.model.min_power_w(), e.model.max_power_w());
            let budget = n as f64 * (SLEEP_POWER_W + share * (hi - SLEEP_POWER_W));
            let s = allocate(&groups, price, hp, budget).unwrap();
            let got = e.group_profit(s[0], n, price, hp);
            let mut best = e.group_profit(Setting::asleep(lo), n, price, hp);
            for w in (lo as usize)..=(hi as usize) {
                let w = w as f64;
                let k = (((budget - n as f64 * SLEEP_POWER_W) / (w - SLEEP_POWER_W)).floor() as usize).min(n);
                best = best.max(e.group_profit(Setting { target_w: w, awake: k }, n, price, hp));
            }
            prop_assert!(got >= best - 5e-3 * best.abs() - 1e-6, "{} < scanned {} ({:?})", got, best, s);
        }
    }

    #[test]
    fn a_budget_below_sleep_draw_is_an_error() {
        let e = econ("Antminer S19j Pro");
        let groups = [GroupSlot { economics: &e, devices: 100 }];
        let err = allocate(&groups, 30.0, 0.05, 100.0).unwrap_err().to_string();
        assert!(err.contains("below"), "{err}");
    }
}
