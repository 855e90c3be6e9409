"""J&F metrics (DAVIS definition), dataset readers and reports."""
