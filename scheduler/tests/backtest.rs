//! Backtests on the synthetic market (no data needed): every policy keeps every site's cap,
//! through faults; the books add up; the optimiser with perfect forecasts beats the yardsticks
//! and stays under the perfect-foresight bound.

use hcp_scheduler::backtest::{BacktestConfig, Summary, run};
use hcp_sim::fleet::FleetConfig;
use proptest::prelude::*;

fn fleet(cap_mw: f64, s19: usize, s21: usize, gpu_nodes: u32, faults: &str) -> FleetConfig {
    let text = format!(
        r#"
name = "test"
start = "2025-03-01"
step_minutes = 5
[policy]
mining = "scheduler"
[faults]
{faults}
[[sites]]
id = "a"
node = "HB_WEST"
power_cap_mw = {cap_mw}
  [[sites.asic_groups]]
  id = "a-s19"
  model = "Antminer S19j Pro"
  count = {s19}
  [[sites.asic_groups]]
  id = "a-s21"
  model = "Antminer S21"
  count = {s21}
  [[sites.gpu_pools]]
  id = "a-h100"
  model = "H100"
  nodes = {gpu_nodes}
  gpus_per_node = 8
"#
    );
    FleetConfig::parse(&text).unwrap()
}

fn backtest(fleet: FleetConfig, days: u32, seed: u64) -> Summary {
    backtest_from(fleet, days, seed, None)
}

fn backtest_from(fleet: FleetConfig, days: u32, seed: u64, from_us: Option<i64>) -> Summary {
    backtest_rows(fleet, days, seed, from_us).0
}

fn backtest_rows(
    fleet: FleetConfig,
    days: u32,
    seed: u64,
    from_us: Option<i64>,
) -> (Summary, Vec<hcp_datasets::rows::DecisionRow>) {
    let cfg = BacktestConfig {
        fleet,
        days,
        seed,
        optimiser: Default::default(),
        engine: Default::default(),
        penalties: Default::default(),
        forecast: None,
        from_us,
        classifier: None,
    };
    run(&cfg, &|_| {}).unwrap()
}

#[test]
fn policies_keep_the_cap_and_the_books_add_up() {
    // ASICs at stock draw 0.85 + 0.35 = 1.2 MW (with 15 W asleep floors); 128 H100 up to 0.09 MW.
    let dir = tempfile::tempdir().unwrap();
    let (s, rows) = backtest_rows(fleet(1.25, 300, 100, 16, ""), 3, 7, None);
    // Every action is logged once under its own idempotency key, and the log writes.
    let keys: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.idempotency_key.as_str()).collect();
    assert_eq!(keys.len(), rows.len());
    assert!(rows.iter().any(|r| r.action == "place_job") && rows.iter().any(|r| r.action == "set_awake"));
    hcp_scheduler::backtest::write_outputs(dir.path(), &s, &rows, "t").unwrap();
    for f in ["summary.json", "decisions.parquet", "report.md"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let names: Vec<&str> = s.policies.iter().map(|p| p.policy.as_str()).collect();
    assert_eq!(names, ["always_on", "threshold", "optimiser_perfect"]);
    for p in &s.policies {
        assert_eq!(p.cap_violations, 0, "{}: {p:?}", p.policy);
        assert!(p.max_cap_ratio <= 1.0, "{}", p.policy);
        let parts = p.mining_revenue_usd + p.gpu_revenue_usd
            - p.energy_cost_usd
            - p.sla_penalty_usd
            - p.late_penalty_usd
            - p.wear_cost_usd;
        assert!((p.profit_usd - parts).abs() < 1e-6, "{}", p.policy);
        let monthly: f64 = p.monthly_profit_usd.values().sum();
        assert!((p.profit_usd - monthly).abs() < 1e-6 * p.profit_usd.abs().max(1.0), "{}", p.policy);
        // No policy earns more than the perfect-foresight relaxation.
        assert!(p.percent_of_optimum <= 100.0 + 1e-9, "{}: {}", p.policy, p.percent_of_optimum);
    }
    let get = |n: &str| s.policies.iter().find(|p| p.policy == n).unwrap();
    assert!(get("optimiser_perfect").profit_usd > get("threshold").profit_usd);
    assert!(get("optimiser_perfect").profit_usd > get("always_on").profit_usd);
    assert!(s.jobs_arrived > 0);
}

#[test]
fn same_seed_same_backtest() {
    let a = backtest(fleet(1.25, 100, 50, 4, ""), 1, 3);
    let b = backtest(fleet(1.25, 100, 50, 4, ""), 1, 3);
    for (x, y) in a.policies.iter().zip(&b.policies) {
        assert_eq!(x.profit_usd, y.profit_usd, "{}", x.policy);
        assert_eq!(x.engine, y.engine, "{}", x.policy);
    }
}

/// A backtest that starts after the world's first day books only the days after it.
#[test]
fn a_later_start_books_only_the_backtest_days() {
    let f = fleet(1.25, 100, 50, 4, "");
    let start = f.start_us().unwrap();
    let s = backtest_from(f, 2, 3, Some(start + 86_400_000_000));
    assert_eq!((s.start_us, s.days, s.steps), (start + 86_400_000_000, 1, 288));
    let whole = backtest(fleet(1.25, 100, 50, 4, ""), 2, 3);
    assert!(s.perfect_foresight.profit_usd < 0.75 * whole.perfect_foresight.profit_usd);
}

/// The optimiser plans over 1 to 168 hours; a horizon outside that is refused by name, not
/// clamped (0 was planned as 1; above 65,535 the GA's start hours wrapped).
#[test]
fn a_horizon_outside_one_hour_to_a_week_is_refused() {
    for hours in [0, 169, 100_000] {
        let cfg = BacktestConfig {
            fleet: fleet(1.25, 100, 50, 4, ""),
            days: 1,
            seed: 3,
            optimiser: hcp_scheduler::policy::OptimiserConfig { horizon_hours: hours, ..Default::default() },
            engine: Default::default(),
            penalties: Default::default(),
            forecast: None,
            from_us: None,
            classifier: None,
        };
        let err = run(&cfg, &|_| {}).unwrap_err().to_string();
        assert!(err.contains(&format!("horizon of {hours} hours; 1 to 168")), "{err}");
    }
}

proptest! {
    // 12 cases per run; `PROPTEST_CASES=400` for a longer search.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(12)
    ))]
    /// Random fleets, caps and faults (lost, duplicated and delayed commands, dropped
    /// telemetry, extra device failures): no policy's site ever ends a step above its cap.
    #[test]
    fn no_policy_exceeds_the_cap_under_faults(
        s19 in 20usize..400, s21 in 0usize..150, nodes in 1u32..12, headroom in 1.0f64..1.3,
        loss in 0.0f64..0.3, dup in 0.0f64..0.3, delay in 0.0f64..0.5, dropout in 0.0f64..0.3, seed in 0u64..1000,
    ) {
        // The site starts with its miners at stock and its H100s idle (70 W each): that fits.
        let asics_mw = (s19 as f64 * 2850.0 + s21 as f64 * 3500.0 + nodes as f64 * 8.0 * 70.0) / 1e6;
        let faults = format!(
            "command_loss = {loss}\ncommand_duplicate = {dup}\ncommand_delay_probability = {delay}\ncommand_delay_s = 400.0\ntelemetry_dropout = {dropout}\nfailure_rate_multiplier = 50.0"
        );
        let s = backtest(fleet(asics_mw * headroom, s19, s21, nodes, &faults), 1, seed);
        for p in &s.policies {
            prop_assert_eq!(p.cap_violations, 0, "{}: max ratio {}", p.policy, p.max_cap_ratio);
        }
    }
}

/// The engine times each group setting from its first send to the telemetry showing it in
/// effect: a step (5 minutes) at the least, in whole steps; lost commands (resent after two
/// steps) make some take longer.
#[test]
fn settings_are_timed_until_telemetry_shows_them_and_lost_commands_take_longer() {
    let clean = backtest(fleet(1.25, 300, 100, 4, ""), 2, 11);
    let lossy = backtest(fleet(1.25, 300, 100, 4, "command_loss = 0.5"), 2, 11);
    let optimiser = |s: &Summary| s.policies.iter().find(|p| p.policy == "optimiser_perfect").unwrap().engine.clone();
    let (c, l) = (optimiser(&clean), optimiser(&lossy));
    // Nothing lost: every setting sent shows at the next observation (the simulated ramps end
    // within a step).
    assert!(c.applied > 0 && c.retries == 0, "{c:?}");
    assert_eq!((c.applied_after_s_p50, c.applied_after_s_max), (300.0, 300.0), "{c:?}");
    // Half the commands lost: resent two steps on, some more than once.
    assert!(l.retries > 0 && l.applied > 0, "{l:?}");
    assert!(l.applied_after_s_max > 2.0 * 300.0, "{l:?}");
    for t in [l.applied_after_s_p50, l.applied_after_s_p99, l.applied_after_s_max] {
        assert!(t >= 300.0 && t % 300.0 == 0.0, "{t} s is not a whole number of steps: {l:?}");
    }
    // The report shows the engine's table.
    let report = lossy.markdown();
    let row = format!("| optimiser_perfect | {} | {} | {} | {} | ", l.commands, l.retries, l.given_up, l.applied);
    assert!(report.contains(&row), "{report}");
    // A policy that sends nothing times nothing.
    let always_on = &clean.policies[0];
    assert_eq!((always_on.engine.commands, always_on.engine.applied), (0, 0), "{always_on:?}");
}
