"""Training: the loop, run directories, multi-process training, training data."""
