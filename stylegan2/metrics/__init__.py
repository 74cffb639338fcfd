"""Evaluation metrics (FID, IS, KID, precision/recall, PPL, mode counts, ...), registered by name."""
