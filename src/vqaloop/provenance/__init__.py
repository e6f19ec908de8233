"""Provenance of a run: per-job checksum records (record-job) and where two runs part (compare-runs)."""
