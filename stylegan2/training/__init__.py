"""The generic training loop, the method seam, options, strategies and snapshots."""
