//! permtrail: classify cloud audit-trail records into ECS IAM actions and explain denials.
//!
//! The pipeline, one module per verb: `read` finds inputs, decompresses and frames them;
//! `parse` turns records into borrowed `Record`s; `classify` maps a record to actions and a
//! denial cause with the `catalog`; `count` aggregates; `write` writes the reports. `scan`
//! is the glue, `cli` and `config` the command line.

pub mod catalog;
pub mod classify;
pub mod parse;
pub mod read;
