"""Training: the run configuration, batch augmentation, the Lightning loop, training of one split, the shared
feature bank, and cross-validation."""
