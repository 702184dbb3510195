//! Every integration test, in one binary: one link and one copy of the
//! shared helpers instead of one per file, and the slow tests of one file
//! run beside the quick ones of the others. Each file is a module.

mod common;

mod adversary;
mod aio;
mod check;
mod checks;
mod cli;
mod corpus;
mod explore;
mod hostile;
mod kernel;
mod linearizable;
mod property;
mod protocols;
mod replay;
mod show;
mod shrink;
mod trace_integrity;
mod viewer;
