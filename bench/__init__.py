"""`make bench`: the performance benchmark (scale generator, server runs, in-process floor, browser timing)."""
