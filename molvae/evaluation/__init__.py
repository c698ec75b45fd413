"""Evaluation: metrics, model evaluation and scoring of molecules."""
