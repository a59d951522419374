//! cln-harness: crash reproduction and regression runs for Core Lightning
//! against a real regtest bitcoind and real lightningd nodes.
//!
//! See ARCHITECTURE.md for the flow of a run and the module map.

pub mod binaries;
pub mod bisect;
pub mod bitcoind;
pub mod builds;
pub mod cli;
pub mod commands;
mod dbcheck_adapter;
pub mod evidence;
pub mod executor;
pub mod explore;
pub mod fixture;
pub mod gate;
pub mod gather;
pub mod hangprobe;
pub mod hsm;
pub mod matrix;
pub mod network;
pub mod node;
pub mod options;
pub mod outcome;
pub mod paths;
pub mod plugins;
pub mod poll;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod report;
pub mod rpc;
pub mod rundir;
pub mod runner;
pub mod scenario;
pub mod scratch;
pub mod text;
pub mod userdirs;
pub mod version;
pub mod witness;
