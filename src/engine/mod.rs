//! The liquidation heatmap model: a pure, incremental state machine over bars (see docs/model.md).

mod bar;

pub use bar::Bar;
