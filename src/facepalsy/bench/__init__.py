"""``facepalsy bench``: speed and memory on this machine, each figure against the machine's own limit or the path it
replaces (``run.py``), typed in ``figures.py``; the cross-validation and landmark figures (``extras.py``), the
video figures (``video_timing.py``), the accelerator figures (``gpu.py``) and what they share (``timing.py``)."""
