//! cln-harness: crash reproduction and regression runs for Core Lightning
//! against a real regtest bitcoind and real lightningd nodes.
//!
//! See ARCHITECTURE.md for the flow of a run and the module map.

pub mod binaries;
pub mod bitcoind;
pub mod hsm;
pub mod network;
pub mod node;
pub mod options;
pub mod paths;
pub mod ports;
pub mod process;
pub mod rpc;
pub mod version;
pub mod cli;
pub mod evidence;
pub mod scenario;
pub mod outcome;
pub mod executor;
mod dbcheck_adapter;
pub mod report;
pub mod runner;
pub mod gather;
pub mod matrix;
pub mod text;
pub mod poll;
pub mod bisect;
pub mod builds;
