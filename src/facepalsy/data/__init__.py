"""Data: the data contract (folders, manifest, subjects, splits), image decoding to RGB and model input,
and the tools around a data set: check (counts, duplicates), prepare (videos to frames), synth (drawn faces)."""
