"""Face: detection and eye-level alignment of the largest face (MediaPipe or Haar), head pose and the frontal mesh,
expressions, landmark asymmetry, the reading against healthy ranges and the palsy pattern; on RGB arrays only."""
