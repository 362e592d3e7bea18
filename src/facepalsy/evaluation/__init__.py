"""Evaluation: metrics as pure functions on arrays, operating-point choice, evaluation of a run, figures and reports."""
