//! The personalization engine.
