"""Adapters for the papers' datasets: each reads the metadata file a dataset publishes into a vqaloop manifest.

``get_adapter(name).read(root, metadata=None)`` -> manifest DataFrame (MOS rescaled linearly to [1, 5], video
paths relative to ``root``); ``expected_files(root)``; ``write_placeholder(root, n_videos, seed)`` writes a small
tree shaped like the published dataset (its metadata file in the published format, empty video files).
The table of datasets (metadata file, MOS range, split, where the format comes from) is in ``published.py``
and ``mapped.py``, one docstring per adapter.
"""

from vqaloop.datasets.registry import adapter_names, get_adapter, register_dataset

__all__ = ["adapter_names", "get_adapter", "register_dataset"]
