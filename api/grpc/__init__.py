"""The Open Inference Protocol over gRPC (inference.GRPCInferenceService), served by every worker beside HTTP.

messages.py: the protocol's messages; tensors.py: ModelInferRequest/Response ↔ the V2 codec's tensors;
service.py: the six RPCs, on the model and rules of api/v2/inference.py; server.py: the grpc.Server a worker runs
(health, reflection, limits, graceful stop); monitoring.py: metrics and a log line per call.
"""
