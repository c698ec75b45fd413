"""Models: the VAE, its nn modules, checkpoints, priors and the ring limit of decoding."""
