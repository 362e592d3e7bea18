"""Models: the VGG backbone registry with the paper's head, the landmark-asymmetry baseline, and the
ModelSpec that travels in every checkpoint (what inference needs to rebuild and use a model)."""
