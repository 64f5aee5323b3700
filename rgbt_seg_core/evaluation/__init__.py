"""Evaluation in the papers' terms: the evaluator, confusion-matrix metrics, input perturbations, reports."""
