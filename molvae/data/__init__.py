"""Datasets, collation, splits and property scaling."""
