//! The demo: chapter 11's heap on an arena, step by step.
