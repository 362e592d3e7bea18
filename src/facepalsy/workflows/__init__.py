"""Workflows: the multi-step jobs above the library, each one call for the CLI and the page: the clinical exam over
photos or a video (and its grade's export), building healthy reference ranges, harmonising a data folder, scoring
an archive, the page's report. They may use every package below them (face, data, models, runfolder, inference,
evaluation, training) and none above."""
