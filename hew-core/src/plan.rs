//! Task selection.
