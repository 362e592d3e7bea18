"""Evaluation: metrics as pure functions on arrays, the shortcut audit and data check, evaluating a run on a folder,
reports, cross-validation reports, the comparison table and model cards."""
