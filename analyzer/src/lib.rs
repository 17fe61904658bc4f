//! agentsight analyzer: the capture format (shared with the recorder) and
//! everything that reads captures. Builds on any OS: no BPF, no root.

pub mod capture;
pub mod cli;
pub mod decode;
pub mod fixtures;
pub mod graph;
pub mod output;
pub mod reconstruct;
pub mod schema;
pub mod session;
pub mod transcript;
pub mod tree;
pub mod udf;
pub mod views;

pub use datafusion;
pub use datafusion::arrow;
pub use parquet;
