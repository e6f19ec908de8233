"""vqaloop: a reproducible harness for data-centric video quality assessment (MDS-VQA, W2S-VQA)."""

__version__ = "0.1.0"
