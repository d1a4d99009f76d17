//! Lint subid files (placeholder: being written).
