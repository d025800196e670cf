"""Entropy models: the hyperprior and channel-wise autoregressive latent codecs and their integer tables."""
