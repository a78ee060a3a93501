"""The Open Inference Protocol (KServe V2): `routes.py` (HTTP), `codec.py` (tensors), `inference.py`."""
