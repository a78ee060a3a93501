"""The protocol's message classes, built from grpc_predict_v2.binpb: the descriptor protoc makes of
grpc_predict_v2.proto (`make grpc-code`; tests/test_grpc_code.py fails when the two disagree).

protoc's generated _pb2 modules register their messages in protobuf's process-wide default pool, which refuses a
second definition of a name. Triton's client (tritonclient.grpc) registers the same `inference.*` names there, so
generated modules could not share a process with it: the tests, or a program that both serves and calls. The
messages live in a pool of their own instead; the health and reflection services' descriptors are copied into it
so that reflection (which reads one pool) describes all three services.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

DESCRIPTOR_SET = Path(__file__).with_name("grpc_predict_v2.binpb")
PACKAGE = "inference"
SERVICE_NAME = f"{PACKAGE}.GRPCInferenceService"


def build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file:
        pool.Add(file)
    for module in (health_pb2, reflection_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb))
    return pool


POOL = build_pool()
SERVICE = POOL.FindServiceByName(SERVICE_NAME)


def message_class(name: str) -> type:
    """The class of the message `inference.<name>` (nested names with a dot: 'ModelInferRequest.InferInputTensor')."""
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


ServerLiveResponse = message_class("ServerLiveResponse")
ServerReadyResponse = message_class("ServerReadyResponse")
ModelReadyResponse = message_class("ModelReadyResponse")
ServerMetadataResponse = message_class("ServerMetadataResponse")
ModelMetadataResponse = message_class("ModelMetadataResponse")
ModelInferRequest = message_class("ModelInferRequest")
ModelInferResponse = message_class("ModelInferResponse")
