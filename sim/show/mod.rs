//! Renderings of a trace for people and tools.

pub mod text;
