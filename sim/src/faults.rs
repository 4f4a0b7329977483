//! Faults injected by configuration: telemetry dropouts, delayed, duplicated or lost commands,
//! price-feed gaps and device failures. Every draw comes from the simulation's seeded random
//! source, so a faulty run is as reproducible as a clean one.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Probability that a telemetry sample never arrives.
    pub telemetry_dropout: f64,
    /// Probability that a command is lost (never applied, no reply).
    pub command_loss: f64,
    /// Probability that a command is applied twice.
    pub command_duplicate: f64,
    /// Probability that a command is delayed, and by how long.
    pub command_delay_probability: f64,
    pub command_delay_s: f64,
    /// Probability per hour that the price feed goes silent, and for how many hours.
    pub price_gap_probability: f64,
    pub price_gap_hours: u32,
    /// Multiplies every device's failure rate.
    pub failure_rate_multiplier: f64,
    /// Failures at given times.
    pub failures: Vec<ScheduledFailure>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            telemetry_dropout: 0.0,
            command_loss: 0.0,
            command_duplicate: 0.0,
            command_delay_probability: 0.0,
            command_delay_s: 0.0,
            price_gap_probability: 0.0,
            price_gap_hours: 3,
            failure_rate_multiplier: 1.0,
            failures: Vec::new(),
        }
    }
}

/// `count` devices of group or pool `target` fail at `at_hour` hours into the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFailure {
    pub target: String,
    pub at_hour: f64,
    pub count: usize,
}

impl FaultConfig {
    pub fn validate(&self) -> Result<()> {
        let probabilities = [
            ("telemetry_dropout", self.telemetry_dropout),
            ("command_loss", self.command_loss),
            ("command_duplicate", self.command_duplicate),
            ("command_delay_probability", self.command_delay_probability),
            ("price_gap_probability", self.price_gap_probability),
        ];
        for (field, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::Config(format!("`faults.{field}`: {p} is not a probability in 0..=1")));
            }
        }
        if !(self.command_delay_s >= 0.0 && self.failure_rate_multiplier >= 0.0) {
            return Err(Error::Config(
                "`faults.command_delay_s` and `faults.failure_rate_multiplier` must be >= 0".into(),
            ));
        }
        Ok(())
    }
}

/// What happens to one command on a faulty link: delivered after each of `deliveries` delays
/// (seconds): none when lost, two when duplicated.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub deliveries: Vec<f64>,
}

impl Delivery {
    pub fn is_lost(&self) -> bool {
        self.deliveries.is_empty()
    }
}

/// The command path from the scheduler to the devices.
#[derive(Debug, Clone)]
pub struct CommandLink {
    faults: FaultConfig,
    rng: Rng,
    pub sent: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub delayed: u64,
}

impl CommandLink {
    pub fn new(faults: &FaultConfig, rng: Rng) -> Self {
        CommandLink { faults: faults.clone(), rng, sent: 0, lost: 0, duplicated: 0, delayed: 0 }
    }

    /// Decides the fate of the next command.
    pub fn send(&mut self) -> Delivery {
        self.sent += 1;
        if self.rng.uniform() < self.faults.command_loss {
            self.lost += 1;
            return Delivery { deliveries: vec![] };
        }
        let delay = if self.rng.uniform() < self.faults.command_delay_probability {
            self.delayed += 1;
            self.faults.command_delay_s
        } else {
            0.0
        };
        if self.rng.uniform() < self.faults.command_duplicate {
            self.duplicated += 1;
            return Delivery { deliveries: vec![delay, delay] };
        }
        Delivery { deliveries: vec![delay] }
    }
}

/// Hours (indices from the start) the price feed is silent.
pub fn price_gaps(faults: &FaultConfig, hours: usize, rng: &mut Rng) -> Vec<bool> {
    let mut silent = vec![false; hours];
    let mut h = 0;
    while h < hours {
        if rng.uniform() < faults.price_gap_probability {
            let end = (h + faults.price_gap_hours as usize).min(hours);
            silent[h..end].iter_mut().for_each(|s| *s = true);
            h = end;
        } else {
            h += 1;
        }
    }
    silent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_loses_duplicates_and_delays_at_the_configured_rates() {
        let faults = FaultConfig {
            command_loss: 0.1,
            command_duplicate: 0.05,
            command_delay_probability: 0.2,
            command_delay_s: 7.0,
            ..FaultConfig::default()
        };
        let mut link = CommandLink::new(&faults, Rng::new(1));
        let fates: Vec<Delivery> = (0..20_000).map(|_| link.send()).collect();
        let share = |n: usize| n as f64 / 20_000.0;
        assert!((share(fates.iter().filter(|d| d.is_lost()).count()) - 0.1).abs() < 0.01);
        assert!((share(fates.iter().filter(|d| d.deliveries.len() == 2).count()) - 0.045).abs() < 0.01);
        assert!((share(fates.iter().filter(|d| d.deliveries.first() == Some(&7.0)).count()) - 0.18).abs() < 0.015);
        assert_eq!(link.sent, 20_000);
        let clean = CommandLink::new(&FaultConfig::default(), Rng::new(1)).send();
        assert_eq!(clean.deliveries, vec![0.0]);
    }

    #[test]
    fn price_gaps_have_the_configured_length() {
        let faults = FaultConfig { price_gap_probability: 0.01, price_gap_hours: 4, ..FaultConfig::default() };
        let silent = price_gaps(&faults, 100_000, &mut Rng::new(2));
        let share = silent.iter().filter(|s| **s).count() as f64 / 1e5;
        // Each hour outside a gap starts one with p = 0.01: gaps cover 4p/(1+3p) ≈ 3.9 %.
        assert!((share - 0.039).abs() < 0.006, "{share}");
        let mut runs = Vec::new();
        let mut run = 0;
        for s in &silent {
            if *s {
                run += 1;
            } else if run > 0 {
                runs.push(run);
                run = 0;
            }
        }
        assert!(runs.iter().all(|r| r % 4 == 0), "gaps are whole multiples of 4 h");
    }
}
