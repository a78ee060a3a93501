"""POST /model/predict: one uploaded image file in, its most likely classes out."""

import logging

from flask import request
from flask_restx import fields, inputs, reqparse
from maxfw.core import MAX_API, PredictAPI
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import BadRequest

from api import served_model
from api.errors import BUSY_DESCRIPTION, error_response
from config import SETTINGS
from core.labels import NUM_CLASSES

# The image's field, then the original MAX-Fashion-MNIST's (IBM's MAX skeleton and its tutorial app send `file`).
IMAGE_FIELDS = ("image", "file")

logger = logging.getLogger(__name__)

predict_request = reqparse.RequestParser()
predict_request.add_argument(
    "image",
    type=FileStorage,
    location="files",
    required=True,
    help="An image file of one clothing item (JPEG, PNG, GIF, BMP, WebP, TIFF, ICO). Clients of the original "
    "MAX-Fashion-MNIST may send it in a field named 'file' instead; parts under other names are ignored.",
)
predict_request.add_argument(
    # The Swagger document is built at import, from the process's settings (a request without top_k gets the
    # served model's own DEFAULT_TOP_K: the same value, unless a test builds an app with other settings).
    "top_k",
    type=inputs.int_range(1, NUM_CLASSES),
    location=("form", "args"),
    default=SETTINGS.default_top_k,
    help=f"How many classes to return, most likely first (1-{NUM_CLASSES}, default {SETTINGS.default_top_k}).",
)
predict_request.add_argument(
    "debug",
    type=inputs.boolean,
    location=("form", "args"),
    default=False,
    help="Also return what the networks were shown: the 28x28 image (model_input) and, for a photo, its 64x64 "
    "colour garment crop (photo_input), as PNG data URLs.",
)

prediction = MAX_API.model(
    "Prediction",
    {
        "prediction": fields.Integer(required=True, description="Class id (kept for the seed's clients)", example=9),
        "label_id": fields.Integer(required=True, description="Class id", example=9),
        "label": fields.String(required=True, description="Class name", example="Ankle boot"),
        "probability": fields.Float(required=True, description="Softmax probability, 0-1", example=0.97),
    },
)

none_of_the_ten = MAX_API.model(
    "NoneOfTheTen",
    {
        "score": fields.Float(
            required=True,
            example=0.03,
            description="0-1: how likely the picture shows none of the ten classes (a hat, shorts, "
            "a ball...), from the networks' eleventh output; higher is more likely",
        ),
        "flagged": fields.Boolean(
            required=True,
            example=False,
            description="score >= NONE_OF_THE_TEN_THRESHOLD (in /model/metadata): the picture "
            "does not look like any of the ten classes; predictions are then only "
            "the closest classes",
        ),
    },
)

predict_response = MAX_API.model(
    "PredictResponse",
    {
        "status": fields.String(required=True, enum=["ok"], example="ok"),
        "predictions": fields.List(
            fields.Nested(prediction),
            required=True,
            description="Most likely first, always among the ten classes; predictions[0] is the model's answer",
        ),
        "none_of_the_ten": fields.Nested(
            none_of_the_ten, required=True, description="Whether the picture is none of the ten classes at all"
        ),
        "model_input": fields.String(
            required=False,
            description="Only with debug=true: the 28x28 grayscale image the model was shown, "
            "after pre-processing, as a PNG data URL",
            example="data:image/png;base64,iVBORw0KGgo...",
        ),
        "photo_input": fields.String(
            required=False,
            description="Only with debug=true, for a photo when the photo network is on: the 64x64 "
            "colour crop of the garment the photo network was shown, as a PNG data URL",
            example="data:image/png;base64,iVBORw0KGgo...",
        ),
    },
)


def image_part() -> FileStorage | None:
    """The one uploaded image, from the `image` field or the original's `file`; None when the request has no file
    part at all (the parser then says what is missing). Parts under other names are ignored, as the original
    server's parser ignored them (its tutorial app sends a stray part named Content-Type)."""
    parts = list(request.files.items(multi=True))
    images = [storage for name, storage in parts if name in IMAGE_FIELDS]
    others = [name for name, _ in parts if name not in IMAGE_FIELDS]
    if len(images) == 1:
        if others:
            logger.debug("ignoring file parts %s beside the image", others)
        return images[0]
    if len(images) > 1:
        found = ", ".join(f"'{name}'" for name, _ in parts if name in IMAGE_FIELDS)
        raise BadRequest(
            f"Send exactly one image, in the 'image' field (or 'file'); this request has {len(images)}: {found}."
        )
    if others:
        raise BadRequest(
            f"Send the image in the 'image' field; this request has no 'image' part, only "
            f"{', '.join(repr(name) for name in others)}."
        )
    return None


TOP_K = inputs.int_range(1, NUM_CLASSES)
options_request = predict_request.copy()  # top_k and debug alone: the image may have come as `file`
options_request.remove_argument("image")


def predict_arguments() -> dict:
    """The request's arguments, read directly when they are well formed.

    flask-restx's parser costs about 0.3 ms a request here (it gathers every location's values for each
    argument), a sixth of a whole prediction; it stays the one that documents the arguments in Swagger and
    words the error of a malformed request, so anything unusual is handed to it.
    """
    image = image_part()
    if image is None:
        return predict_request.parse_args()  # words what is missing
    top_k = request.form.get("top_k", request.args.get("top_k"))
    debug = request.form.get("debug", request.args.get("debug"))
    try:
        return {
            "image": image,
            "top_k": None if top_k is None else TOP_K(top_k),
            "debug": False if debug is None else inputs.boolean(debug),
        }
    except ValueError:
        return {**options_request.parse_args(), "image": image}  # the parser words the 400


class ModelPredictAPI(PredictAPI):
    @MAX_API.doc("predict")
    @MAX_API.expect(predict_request)
    @MAX_API.response(200, "Success", predict_response)
    @MAX_API.response(400, "Missing, several or unreadable images, or top_k out of range", error_response)
    @MAX_API.response(
        413,
        "Upload larger than MAX_CONTENT_LENGTH, or an image that alone needs more memory to "
        "decode than IMAGE_MEMORY_BYTES",
        error_response,
    )
    @MAX_API.response(503, BUSY_DESCRIPTION, error_response)
    def post(self):
        """Classify an image of a clothing item

        The body is built to match PredictResponse exactly (no marshalling pass: it cost ~0.1 ms a request).
        """
        # The upload's bytes go to the model, whose MAX stages do the work (ModelWrapper.predict).
        args = predict_arguments()
        answer = served_model().predict(args["image"].read(), top_k=args["top_k"], debug=args["debug"])
        return {"status": "ok", **answer}
