"""Training: data preparation, losses, the discriminator, and the resumable loop behind `icisp train`."""
