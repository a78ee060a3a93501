"""inference.GRPCInferenceService: the six RPCs Triton's and KServe's gRPC clients call, on the model and rules
that HTTP V2 uses (api/v2/inference.py), refusing what HTTP refuses with the same message."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus

import grpc
from google.protobuf import message_factory

import config
from api.errors import error_body_and_status
from api.grpc.messages import (
    SERVICE,
    ModelMetadataResponse,
    ModelReadyResponse,
    ServerLiveResponse,
    ServerMetadataResponse,
    ServerReadyResponse,
)
from api.grpc.tensors import inference_request, inference_response
from api.v2.inference import check_model, infer, model_metadata, server_metadata
from config import Settings
from core.model import ModelWrapper

logger = logging.getLogger(__name__)

# HTTP V2's refusals by status, as gRPC status codes (KServe's and Triton's mapping).
STATUS_CODES = {
    HTTPStatus.BAD_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    HTTPStatus.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    HTTPStatus.SERVICE_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}


def refusal(error: Exception) -> tuple[grpc.StatusCode, str]:
    """The status code and message for an error, from the one place that words HTTP's (api/errors.py)."""
    body, status = error_body_and_status(error)
    return STATUS_CODES.get(HTTPStatus(status), grpc.StatusCode.INTERNAL), body.get("error") or body.get("message", "")


def answered(method: Callable) -> Callable:
    """An RPC that refuses with a status code and a message, never with a traceback to the client."""

    @functools.wraps(method)
    def call(request, context: grpc.ServicerContext):
        try:
            return method(request, context)
        except Exception as error:  # noqa: BLE001  # every error becomes a status, as every HTTP error a JSON body
            code, message = refusal(error)
            context.abort(code, message)

    return call


class InferenceService:
    """The protocol's RPCs on one loaded model; the names are the protocol's."""

    def __init__(self, model: ModelWrapper, settings: Settings) -> None:
        self.model, self.settings = model, settings

    def ServerLive(self, request, context):
        return ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return ServerReadyResponse(ready=self.model.ready)

    def ModelReady(self, request, context):
        check_model(request.name, request.version, self.settings.v2_model_name)
        return ModelReadyResponse(ready=self.model.ready)

    def ServerMetadata(self, request, context):
        return ServerMetadataResponse(**server_metadata())

    def ModelMetadata(self, request, context):
        check_model(request.name, request.version, self.settings.v2_model_name)
        metadata = model_metadata(self.settings.v2_model_name, self.model.runtime)
        response = ModelMetadataResponse(
            name=metadata["name"], versions=metadata["versions"], platform=metadata["platform"]
        )
        for kind in ("inputs", "outputs"):
            for tensor in metadata[kind]:
                getattr(response, kind).add(**tensor)
        return response

    def ModelInfer(self, request, context):
        check_model(request.model_name, request.model_version, self.settings.v2_model_name)
        v2_request = inference_request(request)
        if not context.is_active():  # the client's deadline passed, or it cancelled: no model work for nobody
            return inference_response(self.settings.v2_model_name, config.V2_MODEL_VERSION, None, [])
        outputs = [tensor for tensor, _ in infer(self.model, v2_request, self.settings)]
        return inference_response(self.settings.v2_model_name, config.V2_MODEL_VERSION, v2_request.id, outputs)


def rpc_handler(service: InferenceService) -> grpc.GenericRpcHandler:
    """The service's methods with their messages' (de)serialisers, as the descriptor declares them."""
    methods = {}
    for method in SERVICE.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        methods[method.name] = grpc.unary_unary_rpc_method_handler(
            answered(getattr(service, method.name)),
            request_deserializer=request_class.FromString,
            response_serializer=response_class.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(SERVICE.full_name, methods)
