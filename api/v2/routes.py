"""Open Inference Protocol (KServe V2) REST routes under /v2, beside MAX's /model routes.

Shapes follow the spec (kserve/open-inference-protocol, inference_rest.md) and what tritonclient and the
kserve client send: no Content-Type on JSON posts (so the body is parsed here, not by Flask), binary tensor
data, unknown fields and parameters tolerated. Errors answer {"error": "..."}.
"""

from __future__ import annotations

from flask import Response, request
from flask_restx import Namespace, Resource, fields
from werkzeug.exceptions import RequestEntityTooLarge

import config
from api import served_model, served_settings
from api.errors import BUSY_DESCRIPTION
from api.v2 import inference
from api.v2.codec import HEADER_LENGTH, encode_response, parse_request
from api.v2.inference import IMAGE_INPUT, OUTPUT_TYPES

v2 = Namespace("v2", path="/v2", description="Open Inference Protocol (KServe V2 / Triton) REST API")

error_model = v2.model("V2Error", {"error": fields.String(required=True, example="Unknown model 'x'.")})
tensor_metadata = v2.model(
    "TensorMetadata",
    {
        "name": fields.String(required=True),
        "datatype": fields.String(required=True),
        "shape": fields.List(fields.Integer, required=True),
    },
)
model_metadata = v2.model(
    "ModelMetadata",
    {
        "name": fields.String(required=True, example=config.SETTINGS.v2_model_name),
        "versions": fields.List(fields.String, example=[config.V2_MODEL_VERSION]),
        "platform": fields.String(required=True, example=config.V2_PLATFORMS["onnxruntime"]),
        "inputs": fields.List(fields.Nested(tensor_metadata), required=True),
        "outputs": fields.List(fields.Nested(tensor_metadata), required=True),
    },
)
request_tensor = v2.model(
    "RequestInput",
    {
        "name": fields.String(required=True, example=IMAGE_INPUT),
        "shape": fields.List(fields.Integer, required=True, example=[1, 28, 28]),
        "datatype": fields.String(required=True, enum=["FP32", "UINT8", "BYTES"], example="UINT8"),
        "parameters": fields.Raw(description='{"binary_data_size": n} for binary tensor data'),
        "data": fields.Raw(description="Row-major values, nested or flat; BYTES elements as base64 strings"),
    },
)
requested_output = v2.model(
    "RequestOutput",
    {
        "name": fields.String(required=True, enum=list(OUTPUT_TYPES)),
        "parameters": fields.Raw(description='{"binary_data": true} and/or {"classification": K}'),
    },
)
infer_request = v2.model(
    "InferenceRequest",
    {
        "id": fields.String,
        "inputs": fields.List(fields.Nested(request_tensor), required=True),
        "outputs": fields.List(fields.Nested(requested_output)),
        "parameters": fields.Raw,
    },
)
response_tensor = v2.model(
    "ResponseOutput",
    {
        "name": fields.String(required=True),
        "shape": fields.List(fields.Integer, required=True),
        "datatype": fields.String(required=True),
        "data": fields.Raw,
        "parameters": fields.Raw,
    },
)
infer_response = v2.model(
    "InferenceResponse",
    {
        "model_name": fields.String(required=True),
        "model_version": fields.String,
        "id": fields.String,
        "outputs": fields.List(fields.Nested(response_tensor), required=True),
    },
)


def check_model(name: str, version: str | None = None) -> None:
    inference.check_model(name, version, served_settings().v2_model_name)


def read_body() -> bytes:
    """The whole body, refusing one over MAX_CONTENT_LENGTH with 413 even when it is chunked (Werkzeug would
    cut a chunked body at the limit without saying so, and the cut JSON would be answered as malformed)."""
    if request.content_length is not None:  # Werkzeug already refuses a declared length over the limit
        return request.get_data(cache=False)
    limit = request.max_content_length
    if limit is None:  # no MAX_CONTENT_LENGTH: nothing to refuse
        return request.environ["wsgi.input"].read()
    body = request.environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


@v2.route("")
class ServerMetadata(Resource):
    def get(self):
        """Server name, version and the protocol extensions it supports"""
        return inference.server_metadata()


@v2.route("/health/live")
class Live(Resource):
    def get(self):
        """Liveness: the process answers (use for a liveness probe)"""
        return {"live": True}


@v2.route("/health/ready")
class Ready(Resource):
    @v2.response(200, 'Ready: {"ready": true}')
    @v2.response(503, "Not ready (shutting down)", error_model)
    def get(self):
        """Readiness: the model is loaded, warmed up and taking requests (use for readiness probes)"""
        if not served_model().ready:
            return {"ready": False, "error": "The model is not taking requests (shutting down)."}, 503
        return {"ready": True}


@v2.route("/models/<string:name>")
class ModelMetadata(Resource):
    @v2.response(200, "Model metadata", model_metadata)
    @v2.response(404, "Unknown model or version", error_model)
    def get(self, name: str, version: str | None = None):
        """Model metadata: inputs (send one of them) and outputs"""
        check_model(name, version)
        return inference.model_metadata(served_settings().v2_model_name, served_model().runtime)


@v2.route("/models/<string:name>/versions/<string:version>")
class ModelVersionMetadata(ModelMetadata):
    """The same route for one version: a resource of its own, so Swagger gives it its own operationId."""


@v2.route("/models/<string:name>/ready")
class ModelReady(Resource):
    @v2.response(200, 'Ready: {"name": ..., "ready": true}')
    @v2.response(404, "Unknown model or version", error_model)
    @v2.response(503, "Not ready (shutting down)")
    def get(self, name: str, version: str | None = None):
        """Model readiness"""
        check_model(name, version)
        ready = served_model().ready
        return {"name": name, "ready": ready}, (200 if ready else 503)


@v2.route("/models/<string:name>/versions/<string:version>/ready")
class ModelVersionReady(ModelReady):
    """The same route for one version, with its own operationId."""


@v2.route("/models/<string:name>/infer")
class Infer(Resource):
    @v2.expect(infer_request, validate=False)
    @v2.response(200, "Inference result (JSON, or JSON header + binary tensors)", infer_response)
    @v2.response(400, "Bad request: shape, datatype, data length, input or output name", error_model)
    @v2.response(404, "Unknown model or version", error_model)
    @v2.response(
        413,
        "Body larger than MAX_CONTENT_LENGTH, or an image_bytes element that alone needs more memory "
        "to decode than IMAGE_MEMORY_BYTES",
        error_model,
    )
    @v2.response(503, BUSY_DESCRIPTION, error_model)
    def post(self, name: str, version: str | None = None):
        """Classify a batch: FP32/UINT8 [N,28,28(,1)] as 'image', or encoded files (BYTES [N]) as 'image_bytes'

        Outputs: probabilities [N,10], label_id, label and none_of_the_ten [N] (the score that the picture is none
        of the ten classes; flagged at NONE_OF_THE_TEN_THRESHOLD, in /model/metadata).
        FP32 values may be 0-1 or 0-255 (taken as 0-1 when none exceeds 1). BYTES elements are base64 strings
        in JSON. Binary tensor data (Inference-Header-Content-Length) works for requests and responses.
        """
        check_model(name, version)
        v2_request = parse_request(read_body(), request.headers.get(HEADER_LENGTH))
        settings = served_settings()
        body, header_length = encode_response(
            settings.v2_model_name,
            config.V2_MODEL_VERSION,
            v2_request.id,
            inference.infer(served_model(), v2_request, settings),
        )
        if header_length is None:
            return Response(body, mimetype="application/json")
        return Response(body, mimetype="application/octet-stream", headers={HEADER_LENGTH: str(header_length)})


@v2.route("/models/<string:name>/versions/<string:version>/infer")
class VersionInfer(Infer):
    """The same route for one version, with its own operationId."""
