"""Training: the run configuration, batch augmentation, Lightning training of one split, and cross-validation."""
