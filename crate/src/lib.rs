//! CAPlab: a deterministic simulator of distributed-systems protocols, for the browser (through
//! `wasm.rs`) and the terminal (the `caplab` binary). See the README for the map.

#![deny(unsafe_code)]

pub mod check;
pub mod protocols;
pub mod scenario;
pub mod sim;
pub mod workload;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)] // wasm-bindgen's generated glue uses unsafe; our code in wasm.rs does not.
mod wasm;
