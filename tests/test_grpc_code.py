"""The committed descriptor the gRPC service's messages are built from is what protoc makes of the committed
.proto (`make grpc-code`), and it defines the protocol's names."""

from api.grpc.messages import DESCRIPTOR_SET, SERVICE
from tooling.grpc_code import generate


def test_the_committed_descriptor_is_what_the_proto_generates(tmp_path):
    regenerated = generate(tmp_path / "grpc_predict_v2.binpb")
    assert regenerated.read_bytes() == DESCRIPTOR_SET.read_bytes(), (
        "api/grpc/grpc_predict_v2.binpb is stale: run `make grpc-code` and commit it"
    )


def test_the_service_has_the_protocols_names():
    assert SERVICE.full_name == "inference.GRPCInferenceService"
    assert {method.name: method.input_type.full_name for method in SERVICE.methods}["ModelInfer"] == (
        "inference.ModelInferRequest"
    )
