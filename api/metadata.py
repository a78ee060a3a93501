"""GET /model/metadata: MAX's model description, plus what was measured about the served file."""

from flask_restx import fields
from maxfw.core import MAX_API, METADATA_SCHEMA, MetadataAPI

from api import served_model

metadata_response = MAX_API.clone(
    "FashionMNISTModelMetadata",
    METADATA_SCHEMA,
    {
        "test_accuracy": fields.Float(
            description="Top-1 accuracy on the official 10 000-image test set with "
            "this runtime, measured by training/evaluate.py (absent if "
            "not measured)",
            example=0.93,
        ),
        "sha256": fields.String(required=True, description="sha256 of the served model (the Keras file)"),
        "runtime": fields.String(
            required=True,
            enum=["onnxruntime", "tensorflow"],
            example="onnxruntime",
            description="what runs it: ONNX Runtime on its int8 export, or TensorFlow",
        ),
        "photo_network_sha256": fields.String(
            description="sha256 of the photo network that also sees photos (its "
            "Keras file); absent when PHOTO_NETWORK is off"
        ),
        "none_of_the_ten_threshold": fields.Float(
            required=True,
            example=0.5,
            description="An answer's none_of_the_ten.flagged is true when its "
            "score reaches this (NONE_OF_THE_TEN_THRESHOLD)",
        ),
    },
)


class ModelMetadataAPI(MetadataAPI):
    @MAX_API.doc("metadata")
    @MAX_API.marshal_with(metadata_response, skip_none=True)  # a figure not measured is absent, never null
    def get(self):
        """What the model is, where it comes from, and how accurate it measured"""
        return served_model().metadata
