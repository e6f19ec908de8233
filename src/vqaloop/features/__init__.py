"""vqaloop.features: frame-level features of videos (the encoder registry and the features file contract).

Encoders: ``efficientnet_lite0`` (ImageNet EfficientNet-Lite0, 1280-d), ``motion`` (4 temporal/sharpness cues),
``clip`` and ``siglip2`` (open_clip image embeddings, local weights only). ``vqaloop features`` writes one
``.npz`` per dataset and encoder; ``load_features`` reads and checks one.
"""

from vqaloop.features.io import Features, load_features, write_features
from vqaloop.features.registry import Encoder, available, encoder_names, get_encoder, register_encoder

__all__ = [
    "Encoder",
    "Features",
    "available",
    "encoder_names",
    "get_encoder",
    "load_features",
    "register_encoder",
    "write_features",
]
