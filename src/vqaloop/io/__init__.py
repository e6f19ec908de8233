"""Input/output: atomic writes, video decoding/encoding, manifests."""
