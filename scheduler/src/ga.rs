//! The discrete part of a plan: when each queued best-effort job starts, found by a genetic
//! algorithm over start hours with a repair step that keeps every hour inside the GPUs free
//! and the site's power cap.
//!
//! A genome holds one start hour per candidate (the horizon's length meaning "not in this
//! horizon"). Decoding walks the candidates in order of their genes and moves a job later
//! until it fits (the repair), so every decoded schedule is feasible. Fitness is the
//! horizon's profit: job value minus the energy the job draws, minus late penalties, plus
//! what the ASICs earn on the power the jobs leave them (each hour's [`BudgetTable`]).

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::economics::BudgetTable;

/// Genetic algorithm settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GaConfig {
    pub population: usize,
    pub generations: usize,
    pub mutation_rate: f64,
    pub seed: u64,
    /// Generations stop when this much time has passed.
    pub time_budget: Duration,
}

impl Default for GaConfig {
    fn default() -> Self {
        GaConfig {
            population: 24,
            generations: 30,
            mutation_rate: 0.1,
            seed: 7,
            time_budget: Duration::from_millis(200),
        }
    }
}

/// One site over the horizon (hour 0 is the current hour).
#[derive(Debug, Clone)]
pub struct SiteHorizon {
    /// GPU-equivalents free each hour once the placed jobs are counted.
    pub gpu_free: Vec<f64>,
    /// Power the ASICs may draw each hour before any new job runs (cap minus the GPUs'
    /// worst-case draw), W.
    pub asic_budget_w: Vec<f64>,
    /// Power the ASICs draw at the least (all asleep), W: new jobs may take the rest.
    pub asic_floor_w: f64,
    /// Expected price each hour, USD/MWh.
    pub price: Vec<f64>,
    /// Mining profit per hour as a function of the ASIC budget.
    pub mining: Vec<BudgetTable>,
}

/// A queued best-effort job.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub gpus: f64,
    pub hours: f64,
    pub value_usd_per_hour: f64,
    /// Hours from now until the deadline.
    pub deadline_h: Option<f64>,
    pub late_penalty_usd: f64,
    /// Power drawn running, over idle, W (energy).
    pub run_w: f64,
    /// Worst-case power over idle, W (the cap).
    pub reserve_w: f64,
}

/// A decoded plan: per candidate, the site and hour it starts, or `None` when it does not
/// start within the horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub starts: Vec<Option<(usize, usize)>>,
    pub genes: Vec<u16>,
    pub fitness: f64,
    pub generations: usize,
}

fn decode(sites: &[SiteHorizon], cands: &[Candidate], genes: &[u16]) -> (Vec<Option<(usize, usize)>>, f64) {
    let horizon = sites.first().map_or(0, |s| s.price.len());
    let mut gpu_free: Vec<Vec<f64>> = sites.iter().map(|s| s.gpu_free.clone()).collect();
    let mut reserved: Vec<Vec<f64>> = sites.iter().map(|_| vec![0.0; horizon]).collect();
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by_key(|&j| (genes[j], j));
    let mut starts = vec![None; cands.len()];
    let mut fitness = 0.0;
    for j in order {
        let c = &cands[j];
        let span = (c.hours.ceil() as usize).max(1);
        let mut start = genes[j] as usize;
        'search: while start < horizon {
            for (s, site) in sites.iter().enumerate() {
                let end = (start + span).min(horizon);
                let fits = (start..end).all(|h| {
                    gpu_free[s][h] + 1e-9 >= c.gpus
                        && site.asic_budget_w[h] - reserved[s][h] - c.reserve_w >= site.asic_floor_w
                });
                if fits {
                    for h in start..end {
                        gpu_free[s][h] -= c.gpus;
                        reserved[s][h] += c.reserve_w;
                    }
                    starts[j] = Some((s, start));
                    break 'search;
                }
            }
            start += 1;
        }
        match starts[j] {
            Some((s, start)) => {
                let mut left = c.hours;
                for h in start..(start + span).min(horizon) {
                    let run = left.min(1.0);
                    left -= run;
                    fitness += run * (c.value_usd_per_hour - sites[s].price[h] * c.run_w / 1e6);
                }
                if c.deadline_h.is_some_and(|d| d < start as f64 + c.hours) {
                    fitness -= c.late_penalty_usd;
                }
            }
            None => {
                if c.deadline_h.is_some_and(|d| d < horizon as f64 + c.hours) {
                    fitness -= c.late_penalty_usd;
                }
            }
        }
    }
    for (site, reserved) in sites.iter().zip(&reserved) {
        for ((table, budget), r) in site.mining.iter().zip(&site.asic_budget_w).zip(reserved) {
            fitness += table.profit_at(budget - r);
        }
    }
    (starts, fitness)
}

/// Runs the genetic algorithm. `warm`: the previous plan's genes, already shifted to now.
pub fn plan(sites: &[SiteHorizon], cands: &[Candidate], cfg: &GaConfig, warm: Option<&[u16]>) -> Schedule {
    let horizon = sites.first().map_or(0, |s| s.price.len()) as u16;
    let started = Instant::now();
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    let n = cands.len();
    let evaluate = |g: Vec<u16>| {
        let (_, f) = decode(sites, cands, &g);
        (g, f)
    };
    let mut population: Vec<(Vec<u16>, f64)> = Vec::with_capacity(cfg.population.max(2));
    population.push(evaluate(vec![0; n]));
    if let Some(w) = warm.filter(|w| w.len() == n) {
        population.push(evaluate(w.iter().map(|&g| g.min(horizon)).collect()));
    }
    while population.len() < cfg.population.max(2) {
        let g = (0..n).map(|_| if rng.gen_bool(0.5) { 0 } else { rng.gen_range(0..=horizon) }).collect();
        population.push(evaluate(g));
    }
    let mut generations = 0;
    if n > 0 && horizon > 0 {
        for _ in 0..cfg.generations {
            if started.elapsed() > cfg.time_budget {
                break;
            }
            generations += 1;
            population.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut next: Vec<(Vec<u16>, f64)> = population.iter().take(2).cloned().collect();
            while next.len() < population.len() {
                let mut pick = || {
                    let a = rng.gen_range(0..population.len());
                    let b = rng.gen_range(0..population.len());
                    if population[a].1 >= population[b].1 { a } else { b }
                };
                let (pa, pb) = (pick(), pick());
                let mut child: Vec<u16> =
                    (0..n).map(|i| if rng.gen_bool(0.5) { population[pa].0[i] } else { population[pb].0[i] }).collect();
                for g in child.iter_mut() {
                    if rng.gen_bool(cfg.mutation_rate) {
                        *g = if rng.gen_bool(0.5) {
                            rng.gen_range(0..=horizon)
                        } else {
                            (*g as i32 + if rng.gen_bool(0.5) { 1 } else { -1 }).clamp(0, horizon as i32) as u16
                        };
                    }
                }
                next.push(evaluate(child));
            }
            population = next;
        }
    }
    population.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (genes, fitness) = population.swap_remove(0);
    let (starts, _) = decode(sites, cands, &genes);
    Schedule { starts, genes, fitness, generations }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::economics::{AsicEconomics, GroupSlot};
    use hcp_sim::asic::AsicCatalog;
    use proptest::prelude::*;

    fn site(prices: &[f64], gpus: f64, budget: f64) -> SiteHorizon {
        let e = AsicEconomics::new(AsicCatalog::builtin().get("Antminer S19j Pro").unwrap().clone());
        let groups = [GroupSlot { economics: &e, devices: 10 }];
        SiteHorizon {
            gpu_free: vec![gpus; prices.len()],
            asic_budget_w: vec![budget; prices.len()],
            asic_floor_w: 150.0,
            price: prices.to_vec(),
            mining: prices.iter().map(|&p| BudgetTable::build(&groups, p, 0.05)).collect(),
        }
    }

    fn job(gpus: f64, hours: f64, value: f64, deadline: Option<f64>) -> Candidate {
        Candidate {
            gpus,
            hours,
            value_usd_per_hour: value * gpus,
            deadline_h: deadline,
            late_penalty_usd: value * gpus * hours * 0.5,
            run_w: 600.0 * gpus,
            reserve_w: 650.0 * gpus,
        }
    }

    #[test]
    fn a_price_spike_defers_work_that_can_wait_and_not_work_that_cannot() {
        // Hours 0-1 at $9,000/MWh: a GPU drawing 600 W costs $5.4/h there, more than a job
        // worth $1.2 per GPU-hour earns; one worth $30 with a deadline runs through the spike.
        let mut prices = vec![9000.0, 9000.0];
        prices.extend([30.0; 10]);
        let sites = [site(&prices, 8.0, 1e6)];
        let cands = [job(1.0, 2.0, 1.2, Some(12.0)), job(1.0, 2.0, 30.0, Some(2.0))];
        let s = plan(&sites, &cands, &GaConfig::default(), None);
        let (_, cheap) = s.starts[0].expect("planned");
        assert!((2..=10).contains(&cheap), "{s:?}");
        assert_eq!(s.starts[1], Some((0, 0)), "{s:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Whatever the genes, a decoded schedule never uses more GPUs than are free nor
        /// more power than the cap leaves.
        #[test]
        fn decoded_schedules_are_feasible(
            jobs in proptest::collection::vec((1u8..5, 1u8..6, 0.5f64..3.0), 1..12),
            genes in proptest::collection::vec(0u16..13, 12),
            gpus in 2.0f64..10.0,
            budget in 1500.0f64..6000.0,
        ) {
            let prices: Vec<f64> = (0..12).map(|h| 20.0 + 10.0 * h as f64).collect();
            let sites = [site(&prices, gpus, budget)];
            let cands: Vec<Candidate> = jobs.iter().map(|&(g, h, v)| job(g as f64, h as f64, v, None)).collect();
            let (starts, _) = decode(&sites, &cands, &genes[..cands.len()]);
            for h in 0..12 {
                let (mut used, mut reserve) = (0.0, 0.0);
                for (c, s) in cands.iter().zip(&starts) {
                    if let Some((_, start)) = s
                        && h >= *start
                        && h < start + (c.hours.ceil() as usize)
                    {
                        used += c.gpus;
                        reserve += c.reserve_w;
                    }
                }
                prop_assert!(used <= gpus + 1e-9);
                prop_assert!(budget - reserve >= sites[0].asic_floor_w - 1e-9);
            }
        }
    }
}
