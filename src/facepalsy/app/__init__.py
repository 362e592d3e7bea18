"""Applications on top of the library: the command line (parses and calls), the clinician web page, the demo
and the benchmark."""
