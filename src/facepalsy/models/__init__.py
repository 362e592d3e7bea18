"""Models: the VGG backbone registry with the paper's head, the landmark model, the ModelSpec that travels in every
checkpoint (what inference needs to rebuild and use a model), and its operating point and temperature."""
