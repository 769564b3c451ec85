//! Integration tests: the engine against a real AWS API implementation (moto's server mode),
//! one fresh emulator per test. Each test seeds a stack through the SDK, runs the engine, then
//! re-reads AWS and asserts what it finds there.

mod approvals;
mod cli;
mod database;
mod delivery;
mod environment;
mod faults;
mod instances;
mod node_ports;
mod organization;
mod parameters;
mod reports;
mod security_groups;
mod third_party;
