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
