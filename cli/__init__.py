"""The command-line application: `python -m cli classify PATH...` (see cli/classify.py)."""
