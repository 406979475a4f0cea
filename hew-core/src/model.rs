//! Model routing.
