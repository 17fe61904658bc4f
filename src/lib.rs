//! The `agentsight` command line: every subcommand's arguments and output.
//! The work itself is in the crates below (recorder, analyzer, capture).

pub mod anomalies;
pub mod cli;
pub mod inspect;
pub mod report;
