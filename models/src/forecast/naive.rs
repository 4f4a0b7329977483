//! Naive day-ahead baselines: the yardsticks every model is measured against.

use super::panel::{Day, DayAheadPanel};

/// A baseline that reads only prices before the day it forecasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naive {
    /// Day D-1, hour for hour.
    Daily,
    /// Day D-7, hour for hour (the weekly seasonal naive, the benchmark's rMAE yardstick).
    Weekly,
    /// The benchmark's naive: D-7 for Mondays, Saturdays and Sundays, D-1 otherwise.
    Benchmark,
}

impl Naive {
    pub const ALL: [Naive; 3] = [Naive::Daily, Naive::Weekly, Naive::Benchmark];

    pub fn id(self) -> &'static str {
        match self {
            Naive::Daily => "naive_daily",
            Naive::Weekly => "seasonal_naive_weekly",
            Naive::Benchmark => "naive_benchmark",
        }
    }

    /// The forecast of day `d`, or `None` before a week of history exists.
    pub fn forecast(self, panel: &DayAheadPanel, d: usize) -> Option<Day> {
        let lag = match self {
            Naive::Daily => 1,
            Naive::Weekly => 7,
            Naive::Benchmark => match panel.weekday(d) {
                0 | 5 | 6 => 7,
                _ => 1,
            },
        };
        (d >= lag).then(|| panel.price[d - lag])
    }
}
