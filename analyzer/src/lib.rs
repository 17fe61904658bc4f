//! agentsight analyzer: everything that reads captures. A DataFusion session
//! over the capture's tables, the named views, the UDFs, the reconstruction of
//! connections and LLM calls (decoded by `agentsight-decode`) and the causal
//! graph, and the anomaly rules over all of it. Needs no BPF and no root.

pub mod anomalies;
pub mod graph;
pub mod health;
pub mod output;
pub mod reconstruct;
pub mod report;
pub mod session;
pub mod transcript;
pub mod tree;
pub mod udf;
pub mod views;

pub use agentsight_capture::{self as capture, schema};
pub use agentsight_decode as decode;
pub use datafusion;
pub use datafusion::arrow;
pub use parquet;
