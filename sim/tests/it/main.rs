//! Integration tests of the simulators (one binary, as STYLE.md asks).

mod calibration;
mod history;
