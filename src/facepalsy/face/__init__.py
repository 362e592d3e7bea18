"""Face: detection and eye-level alignment of the largest face (MediaPipe or Haar), and landmark asymmetry."""
