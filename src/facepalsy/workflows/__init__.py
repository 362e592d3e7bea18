"""Workflows: the multi-step jobs above the library, each one call for the CLI and the page: the clinical exam over
photos or a video, evaluating a run on a data folder, building healthy reference ranges, harmonising a data folder.
They may use every package below them (data, face, models, runfolder, evaluation, inference) and none above."""
