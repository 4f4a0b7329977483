//! `hcp sim` history: deterministic, complete, within every site's cap, faults take effect.

use std::path::Path;

use hcp_datasets::{ReadOptions, Table, read_table};
use hcp_sim::fleet::FleetConfig;
use hcp_sim::history::{HistoryConfig, example_fleet_dir, write_history};
use hcp_sim::world::{Command, World};
use proptest::prelude::*;

fn small() -> FleetConfig {
    FleetConfig::load(&example_fleet_dir().join("small.toml")).unwrap()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_writes_byte_identical_files_and_another_seed_does_not() {
    let run = |seed: u64| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = HistoryConfig { fleet: small(), days: 2, seed, out: dir.path().into() };
        write_history(&cfg, &mut |_, _| {}).unwrap();
        (files(dir.path()), dir)
    };
    let (a, _da) = run(7);
    let (b, _db) = run(7);
    let (c, _dc) = run(8);
    assert!(a.len() >= 4, "{:?}", a.iter().map(|f| &f.0).collect::<Vec<_>>());
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn every_table_is_written_and_no_job_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = HistoryConfig { fleet: small(), days: 3, seed: 1, out: dir.path().into() };
    let report = write_history(&cfg, &mut |_, _| {}).unwrap();
    let rows = |t: Table| read_table(dir.path(), t, &ReadOptions::default()).unwrap().0.num_rows();
    assert_eq!(rows(Table::Prices), 3 * 24);
    assert_eq!(rows(Table::BtcNetwork), 3);
    assert_eq!(rows(Table::Exogenous), 3 * 7, "daily rental price of 7 GPU models");
    assert_eq!(rows(Table::Jobs) as u64, report.counters.jobs_arrived);
    // Per step: 2 ASIC groups + 1 GPU pool + the site.
    assert_eq!(rows(Table::Telemetry) as u64, 4 * report.counters.steps);
    assert_eq!(report.counters.steps, 3 * 288);
    assert!(report.counters.max_cap_ratio <= 1.0);
}

#[test]
fn faults_drop_telemetry_silence_the_feed_and_fail_devices() {
    let mut fleet = small();
    fleet.faults.telemetry_dropout = 0.2;
    fleet.faults.price_gap_probability = 0.2;
    fleet.faults.failures =
        vec![hcp_sim::faults::ScheduledFailure { target: "midland-s21".into(), at_hour: 1.0, count: 50 }];
    let dir = tempfile::tempdir().unwrap();
    let cfg = HistoryConfig { fleet, days: 2, seed: 3, out: dir.path().into() };
    let report = write_history(&cfg, &mut |_, _| {}).unwrap();
    let c = &report.counters;
    let total = 4 * c.steps;
    let dropped = c.telemetry_dropped as f64 / total as f64;
    assert!((dropped - 0.2).abs() < 0.04, "{dropped}");
    let (prices, _) = read_table(dir.path(), Table::Prices, &ReadOptions::default()).unwrap();
    assert!(prices.column_by_name("rtm_price_per_mwh").unwrap().null_count() > 0, "feed gaps are nulls");
    assert_eq!(prices.num_rows(), 48, "a silent hour is a null, not a missing row");
    let (tel, _) = read_table(dir.path(), Table::Telemetry, &ReadOptions::default()).unwrap();
    let states = tel.column_by_name("state").unwrap();
    let states = hcp_datasets::rows::string_values(states);
    assert!(states.iter().any(|s| s.contains("failed=50")), "the scheduled failures show in telemetry");
}

#[test]
fn lost_and_duplicated_commands_pass_through_the_link() {
    let mut fleet = small();
    fleet.policy.mining = "always_on".into();
    fleet.faults.command_loss = 0.5;
    fleet.faults.command_duplicate = 0.5;
    fleet.faults.command_delay_probability = 1.0;
    fleet.faults.command_delay_s = 600.0;
    let mut world = World::new(fleet, 1, 4).unwrap();
    let sent = world.counters();
    for _ in 0..20 {
        world.submit(Command::Sleep { group: "midland-s21".into() });
    }
    world.step().unwrap();
    assert_eq!(world.group("midland-s21").unwrap().last_totals().sleeping, 0, "delayed by 10 minutes");
    for _ in 0..3 {
        world.step().unwrap();
    }
    assert_eq!(world.group("midland-s21").unwrap().last_totals().sleeping, 200);
    let c = world.counters();
    assert_eq!(c.commands_sent, 20 + sent.commands_sent);
    assert!(c.commands_lost > 3 && c.commands_duplicated > 1, "{c:?}");
}

fn fleet_text(asics: usize, gpus_nodes: u32, target: f64, cap_slack: f64, dropout: f64, loss: f64) -> String {
    let draw = asics as f64 * target + gpus_nodes as f64 * 8.0 * 700.0;
    format!(
        r#"
name = "prop"
start = "2024-07-15"
step_minutes = 15
[faults]
telemetry_dropout = {dropout}
command_loss = {loss}
failure_rate_multiplier = 50.0
price_gap_probability = 0.05
[[sites]]
id = "s"
node = "LZ_WEST"
power_cap_mw = {cap}
ambient_mean_c = 30.0
  [[sites.asic_groups]]
  id = "g"
  model = "Antminer S19j Pro"
  count = {asics}
  power_target_w = {target}
  [[sites.gpu_pools]]
  id = "p"
  model = "H100"
  nodes = {gpus_nodes}
"#,
        cap = draw * cap_slack / 1e6 + 0.001
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever the fleet, faults and seed, no step draws more than the site's cap when the
    /// configured operating point fits under it (hot summer days included).
    #[test]
    fn no_step_exceeds_the_cap(
        asics in 1usize..400, nodes in 1u32..6, target in 1905.0f64..3100.0, slack in 1.0f64..1.3,
        dropout in 0.0f64..0.5, loss in 0.0f64..0.5, seed in 0u64..1000,
    ) {
        let fleet = FleetConfig::parse(&fleet_text(asics, nodes, target, slack, dropout, loss)).unwrap();
        let cap = fleet.sites[0].power_cap_mw * 1e6;
        let mut world = World::new(fleet, 2, seed).unwrap();
        while !world.is_done() {
            let step = world.step().unwrap();
            prop_assert!(step.sites[0].power_w <= cap + 1e-6, "{} W over a {} W cap", step.sites[0].power_w, cap);
        }
    }
}

/// Replay plays a real series as it is: the world's prices are the file's, gaps included; a
/// simulated period the file does not cover is refused, not filled.
#[test]
fn replay_plays_a_real_file_hour_for_hour() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ercot.csv");
    let mut text = String::from("delivery_date,hour_ending,settlement_point,dam_lmp,rtm_lmp\n");
    for day in 1..=3 {
        for he in 1..=24 {
            let rtm = if day == 2 && he == 5 { String::new() } else { format!("{}.5", day * 100 + he) };
            text.push_str(&format!("2025-06-0{day},{he},HB_WEST,{},{rtm}\n", he * 2));
        }
    }
    std::fs::write(&csv, text).unwrap();
    let mut fleet = small();
    fleet.start = "2025-06-02".into();
    fleet.market.source = "replay".into();
    fleet.market.replay_file = Some(csv);
    let world = World::new(fleet.clone(), 1, 1).unwrap();
    // 2025-06-02 00:00 UTC is 19:00 CDT on June 1, hour ending 20; hour ending 5 of June 2
    // starts at 09:00Z.
    let start = world.start_us;
    let hour = hcp_datasets::time::MICROS_PER_HOUR;
    assert_eq!(world.true_price("HB_WEST", start), Some(120.5));
    assert_eq!(world.true_price("HB_WEST", start + 9 * hour), None, "the file's own gap");
    assert_eq!(world.true_price("HB_WEST", start + 10 * hour), Some(206.5));
    // Every row of the day, the gap's too (it holds its day-ahead price).
    assert_eq!(world.feed.len(), 24, "the file's rows inside the simulated day, no more");

    // The file starts at 05:00Z on June 1 and ends at 05:00Z on June 4: a day from midnight
    // June 1, or two days from June 3, reach outside it.
    for (day, days) in [("2025-06-01", 1), ("2025-06-03", 2)] {
        let mut f = fleet.clone();
        f.start = day.into();
        let err = World::new(f, days, 1).expect_err("refused").to_string();
        assert!(err.contains("market.replay_file") && err.contains("does not cover"), "{err}");
    }
}
