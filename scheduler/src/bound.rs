//! The perfect-foresight yardstick: the most any policy could earn over the realised prices,
//! solved as a linear program with HiGHS.
//!
//! Hourly, per site: each ASIC group's devices are split over its operating points (asleep
//! and every point of its curve: a relaxation of one target per group, exact for devices
//! that can be set one by one); each job that arrived may run any fraction of each hour
//! between its arrival and its deadline (latency-sensitive: its natural run), on any site's
//! GPUs, up to its duration. Constraints: the site's power cap and GPU count every hour.
//! Objective: mining revenue + job value − energy. No ramp, load or switching delays and no
//! penalties: a relaxation, so it bounds from above what a policy earns within deadlines.

use std::time::Instant;

use hcp_sim::asic::{AsicModel, SLEEP_POWER_W};
use hcp_sim::workload::JobClass;
use highs::{HighsModelStatus, RowProblem, Sense};

use crate::error::{Error, Result};

const HOUR_US: i64 = 3_600_000_000;

/// A site as the bound sees it.
#[derive(Debug, Clone)]
pub struct BoundSite {
    pub cap_w: f64,
    /// Realised price per hour, USD/MWh.
    pub price: Vec<f64>,
    pub groups: Vec<(AsicModel, usize)>,
    pub gpus: f64,
    pub gpu_idle_w: f64,
    /// Power over idle of a GPU-equivalent running batch work, W.
    pub batch_extra_w: f64,
    /// Power over idle of a GPU-equivalent serving, per hour, W.
    pub serving_extra_w: Vec<f64>,
}

/// A job that arrived.
#[derive(Debug, Clone)]
pub struct BoundJob {
    pub class: JobClass,
    pub arrival_us: i64,
    pub duration_s: f64,
    pub gpus: f64,
    pub value_usd_per_gpu_hour: f64,
    pub deadline_us: Option<i64>,
}

/// The whole problem.
#[derive(Debug, Clone)]
pub struct BoundInput {
    pub start_us: i64,
    pub hours: usize,
    /// Hashprice per hour, USD per TH/s per day.
    pub hashprice: Vec<f64>,
    pub sites: Vec<BoundSite>,
    pub jobs: Vec<BoundJob>,
}

/// The optimum and its parts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bound {
    pub profit_usd: f64,
    pub mining_revenue_usd: f64,
    pub gpu_revenue_usd: f64,
    pub energy_cost_usd: f64,
    pub columns: usize,
    pub rows: usize,
    pub solve_s: f64,
}

/// Solves the perfect-foresight LP.
pub fn solve(input: &BoundInput) -> Result<Bound> {
    let started = Instant::now();
    let mut pb = RowProblem::default();
    // (column, mining revenue, energy cost, gpu revenue) per unit, for the breakdown.
    let mut parts: Vec<(highs::Col, f64, f64, f64)> = Vec::new();
    let mut constant_energy = 0.0;
    let mut rows = 0;
    // Cap terms per (site, hour), GPU terms per (site, hour).
    let mut cap_terms: Vec<Vec<Vec<(highs::Col, f64)>>> =
        input.sites.iter().map(|_| vec![Vec::new(); input.hours]).collect();
    let mut gpu_terms = cap_terms.clone();
    for (s, site) in input.sites.iter().enumerate() {
        if site.price.len() < input.hours || site.serving_extra_w.len() < input.hours {
            return Err(Error::Config(format!("bound: site {s} has fewer hourly values than {} hours", input.hours)));
        }
        for (terms, (&price, &hp)) in cap_terms[s].iter_mut().zip(site.price.iter().zip(&input.hashprice)) {
            constant_energy += price * site.gpus * site.gpu_idle_w / 1e6;
            for (model, devices) in &site.groups {
                let mut vertices = vec![(SLEEP_POWER_W, 0.0)];
                vertices.extend(model.curve.iter().map(|p| (p.power_w, p.hashrate_ths)));
                let mut cols = Vec::new();
                for (power, hash) in vertices {
                    let revenue = hp / 24.0 * hash;
                    let energy = price * power / 1e6;
                    let col = pb.add_column(revenue - energy, 0.0..=*devices as f64);
                    parts.push((col, revenue, energy, 0.0));
                    terms.push((col, power));
                    cols.push((col, 1.0));
                }
                pb.add_row(*devices as f64..=*devices as f64, &cols);
                rows += 1;
            }
        }
    }
    let first_hour = input.start_us;
    let end_us = input.start_us + input.hours as i64 * HOUR_US;
    for job in &input.jobs {
        let until = match job.class {
            JobClass::LatencySensitive => job.arrival_us + (job.duration_s * 1e6) as i64 + HOUR_US,
            JobClass::BestEffort => job
                .deadline_us
                .unwrap_or(job.arrival_us + (3.0 * job.duration_s * 1e6) as i64)
                .max(job.arrival_us + (job.duration_s * 1e6) as i64),
        }
        .min(end_us);
        if job.arrival_us >= end_us || until <= first_hour {
            continue;
        }
        let h0 = ((job.arrival_us.max(first_hour) - first_hour) / HOUR_US) as usize;
        let h1 = (((until - first_hour) + HOUR_US - 1) / HOUR_US) as usize;
        let mut cols = Vec::new();
        for h in h0..h1.min(input.hours) {
            let hour_start = first_hour + h as i64 * HOUR_US;
            let available =
                ((hour_start + HOUR_US).min(until) - hour_start.max(job.arrival_us)) as f64 / HOUR_US as f64;
            if available <= 0.0 {
                continue;
            }
            for (s, site) in input.sites.iter().enumerate() {
                if site.gpus <= 0.0 {
                    continue;
                }
                let extra = match job.class {
                    JobClass::LatencySensitive => site.serving_extra_w[h],
                    JobClass::BestEffort => site.batch_extra_w,
                };
                // x = hours of the hour the job runs on this site.
                let revenue = job.value_usd_per_gpu_hour * job.gpus;
                let energy = site.price[h] * job.gpus * extra / 1e6;
                let col = pb.add_column(revenue - energy, 0.0..=available);
                parts.push((col, 0.0, energy, revenue));
                cap_terms[s][h].push((col, job.gpus * extra));
                gpu_terms[s][h].push((col, job.gpus));
                cols.push((col, 1.0));
            }
        }
        if !cols.is_empty() {
            pb.add_row(..=job.duration_s / 3600.0, &cols);
            rows += 1;
        }
    }
    for (s, site) in input.sites.iter().enumerate() {
        let idle = site.gpus * site.gpu_idle_w;
        for (cap, gpu) in cap_terms[s].iter().zip(&gpu_terms[s]) {
            pb.add_row(..=site.cap_w - idle, cap);
            rows += 1;
            if !gpu.is_empty() {
                pb.add_row(..=site.gpus, gpu);
                rows += 1;
            }
        }
    }
    let columns = pb.num_cols();
    let mut model = pb.optimise(Sense::Maximise);
    model.make_quiet();
    let solved = model.try_solve().map_err(|e| Error::Solver(format!("{e:?}")))?;
    if solved.status() != HighsModelStatus::Optimal {
        return Err(Error::Solver(format!("status {:?}", solved.status())));
    }
    let solution = solved.get_solution();
    let x = solution.columns();
    let (mut mining, mut energy, mut gpu) = (0.0, constant_energy, 0.0);
    for (i, (_, m, e, g)) in parts.iter().enumerate() {
        mining += m * x[i];
        energy += e * x[i];
        gpu += g * x[i];
    }
    Ok(Bound {
        profit_usd: mining + gpu - energy,
        mining_revenue_usd: mining,
        gpu_revenue_usd: gpu,
        energy_cost_usd: energy,
        columns,
        rows,
        solve_s: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcp_sim::asic::AsicCatalog;

    fn site(prices: &[f64], cap_w: f64, gpus: f64) -> BoundSite {
        BoundSite {
            cap_w,
            price: prices.to_vec(),
            groups: vec![(AsicCatalog::builtin().get("Antminer S19j Pro").unwrap().clone(), 10)],
            gpus,
            gpu_idle_w: 60.0,
            batch_extra_w: 500.0,
            serving_extra_w: vec![300.0; prices.len()],
        }
    }

    /// Golden value by hand: one hour, ten S19j Pro, no GPUs, a cap that fits them all at the
    /// top of the curve: the LP picks, per device, the curve point with the best margin.
    #[test]
    fn mining_only_matches_the_best_point_by_hand() {
        let model = AsicCatalog::builtin().get("Antminer S19j Pro").unwrap().clone();
        let (price, hp) = (40.0, 0.05);
        let best = model
            .curve
            .iter()
            .map(|p| hp / 24.0 * p.hashrate_ths - price * p.power_w / 1e6)
            .fold(-price * SLEEP_POWER_W / 1e6, f64::max);
        let input = BoundInput {
            start_us: 0,
            hours: 1,
            hashprice: vec![hp],
            sites: vec![site(&[price], 1e9, 0.0)],
            jobs: vec![],
        };
        let b = solve(&input).unwrap();
        assert!((b.profit_usd - 10.0 * best).abs() < 1e-6, "{} vs {}", b.profit_usd, 10.0 * best);
    }

    /// A cap below what the fleet draws binds: the bound's draw fits it and earns no more
    /// than the uncapped optimum; a valuable job displaces mining.
    #[test]
    fn the_cap_binds_and_jobs_displace_mining() {
        let hp = 0.05;
        let free = solve(&BoundInput {
            start_us: 0,
            hours: 2,
            hashprice: vec![hp; 2],
            sites: vec![site(&[30.0, 30.0], 1e9, 0.0)],
            jobs: vec![],
        })
        .unwrap();
        let capped = solve(&BoundInput {
            start_us: 0,
            hours: 2,
            hashprice: vec![hp; 2],
            sites: vec![site(&[30.0, 30.0], 15_000.0, 0.0)],
            jobs: vec![],
        })
        .unwrap();
        assert!(capped.profit_usd < free.profit_usd - 1e-6);
        let job = BoundJob {
            class: JobClass::BestEffort,
            arrival_us: 0,
            duration_s: 7200.0,
            gpus: 4.0,
            value_usd_per_gpu_hour: 2.0,
            deadline_us: None,
        };
        let with_job = solve(&BoundInput {
            start_us: 0,
            hours: 2,
            hashprice: vec![hp; 2],
            sites: vec![site(&[30.0, 30.0], 15_000.0, 8.0)],
            jobs: vec![job],
        })
        .unwrap();
        assert!((with_job.gpu_revenue_usd - 16.0).abs() < 1e-6, "{with_job:?}");
        assert!(with_job.mining_revenue_usd < capped.mining_revenue_usd);
    }
}
