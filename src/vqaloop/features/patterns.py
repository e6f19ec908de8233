"""``effnet_patterns``: FreeSel's per-video "semantic patterns" (Xie et al. 2023) on the embedded default encoder.

FreeSel takes, per image, the patch features of a general-purpose ViT whose CLS attention is highest and
clusters them; the k-means centres are the image's semantic patterns. Here, per video:

1. the last feature map of ImageNet EfficientNet-Lite0 (real weights, loaded by ``efficientnet.build_model``)
   for every sampled frame at native size: (F, 1280, h, w), about 5 x 8 positions at 144 x 256;
2. saliency of a position = the L2 norm of its 1280-d feature. This is a stand-in for the ViT's CLS attention:
   no ViT weights are available offline, and the feature norm is the rule FreeSel's own code applies to
   convolutional backbones (it keeps the positions whose feature norm exceeds a threshold);
3. the top ``keep`` = 25% positions of each frame (at least one), pooled over the video's frames;
4. k-means with k = P = 8 (k-means++ seeding from ``numpy.random.default_rng(seed)``, then Lloyd) on those
   vectors; the P centres, (P, 1280) float32, are the video's patterns. With fewer than P salient vectors the
   vectors are repeated cyclically up to P rows.

``encode(frames)`` treats all the frames it is given as ONE video and returns (P, D), not one row per frame
(``per_video = True``: ``vqaloop features`` then calls it video by video and stores (N, P, D) as ``frames``).
The ``freesel`` selection method reads those patterns.

TODO: with CLIP/ViT weights configured (features.encoders.clip.weights), the faithful variant would take the
ViT's patch tokens ranked by the last layer's CLS attention (FreeSel's rule: the top tokens holding 50% of the
attention mass) instead of EfficientNet feature norms. Not implemented.
"""

from __future__ import annotations

import numpy as np

from vqaloop.features.efficientnet import EfficientNetLite0
from vqaloop.features.registry import FORWARD_FRAMES, register_encoder

DEFAULT_PATTERNS = 8  # P, k-means centres per video
DEFAULT_KEEP = 0.25  # fraction of positions per frame kept as salient
KMEANS_ITERATIONS = 100


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = KMEANS_ITERATIONS) -> np.ndarray:
    """(k, D) centres of ``points`` (n, D): k-means++ seeding, then Lloyd until the assignment is stable.

    Computed in float64; ``n <= k`` returns the points repeated cyclically to k rows. An empty cluster keeps
    its previous centre. Deterministic for a given seed.
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if n <= k:
        return np.resize(points, (k, points.shape[1]))
    rng = np.random.default_rng(seed)
    squared = (points * points).sum(axis=1)
    chosen = [int(rng.integers(n))]
    nearest = squared - 2 * points @ points[chosen[0]] + squared[chosen[0]]
    for _ in range(1, k):
        weights = np.clip(nearest, 0.0, None)
        total = weights.sum()
        nxt = int(rng.choice(n, p=weights / total)) if total > 0 else int(rng.integers(n))
        chosen.append(nxt)
        nearest = np.minimum(nearest, squared - 2 * points @ points[nxt] + squared[nxt])
    centres = points[chosen].copy()
    assignment = None
    for _ in range(iterations):
        d2 = squared[:, None] - 2 * points @ centres.T + (centres * centres).sum(axis=1)[None]
        new = d2.argmin(axis=1)
        if assignment is not None and np.array_equal(new, assignment):
            break
        assignment = new
        for c in range(k):
            members = points[assignment == c]
            if len(members):
                centres[c] = members.mean(axis=0)
    return centres


@register_encoder("effnet_patterns")
class EffNetPatterns(EfficientNetLite0):
    """FreeSel semantic patterns (P, 1280) per video from EfficientNet-Lite0's last feature map (module docstring)."""

    dim = 1280
    needs_pairs = False
    per_video = True  # encode() maps one video's frames to (P, D)

    def __init__(
        self,
        *,
        batch: int = FORWARD_FRAMES,
        device: str = "cpu",
        patterns: int = DEFAULT_PATTERNS,
        keep: float = DEFAULT_KEEP,
        seed: int = 0,
    ):
        if int(patterns) < 1 or not 0 < float(keep) <= 1:
            raise ValueError(f"patterns must be >= 1 and keep in (0, 1], got {patterns}, {keep}")
        super().__init__(batch=batch, device=device)  # the real EfficientNet-Lite0 weights, eval mode
        self.patterns, self.keep, self.seed = int(patterns), float(keep), int(seed)

    def feature_maps(self, frames: np.ndarray) -> np.ndarray:
        """(F, h, w, 1280) float32: the last feature map of every frame (after the head conv, before pooling)."""
        return self.maps_of(self.trunk_passes(frames))

    @staticmethod
    def maps_of(passes: list) -> np.ndarray:
        """The trunk passes (a fixed pass shape, registry.FORWARD_FRAMES) as (F, h, w, 1280) float32."""
        return np.concatenate([maps.float().permute(0, 2, 3, 1).cpu().numpy()[:real] for maps, real in passes])

    def salient(self, maps: np.ndarray) -> np.ndarray:
        """Flat position indices (F, m) of the m = ceil(keep * h * w) most salient positions of each frame,
        most salient first (ties to the lower index)."""
        f, h, w, d = maps.shape
        saliency = np.linalg.norm(maps.reshape(f, h * w, d).astype(np.float64), axis=2)
        m = max(1, int(np.ceil(self.keep * h * w)))
        return np.argsort(-saliency, axis=1, kind="stable")[:, :m]

    def from_passes(self, passes: list, frames: np.ndarray) -> np.ndarray:
        maps = self.maps_of(passes)
        f, h, w, d = maps.shape
        flat = maps.reshape(f, h * w, d)
        top = self.salient(maps)
        vectors = np.concatenate([flat[i, top[i]] for i in range(f)])
        return kmeans(vectors, self.patterns, self.seed).astype(np.float32)
