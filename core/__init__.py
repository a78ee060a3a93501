"""Model loading, pre-processing, inference and post-processing. No Flask here."""
