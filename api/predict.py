"""POST /model/predict: one uploaded image file in, its most likely classes out."""
from flask_restx import fields, inputs, reqparse
from maxfw.core import MAX_API, PredictAPI
from werkzeug.datastructures import FileStorage

import config
from api import served_model
from api.errors import error_response
from core.labels import NUM_CLASSES

predict_request = reqparse.RequestParser()
predict_request.add_argument(
    "image", type=FileStorage, location="files", required=True,
    help="An image file of one clothing item (JPEG, PNG, GIF, BMP, WebP, TIFF).")
predict_request.add_argument(
    "top_k", type=inputs.int_range(1, NUM_CLASSES), location=("form", "args"), default=config.DEFAULT_TOP_K,
    help=f"How many classes to return, most likely first (1-{NUM_CLASSES}, default {config.DEFAULT_TOP_K}).")

prediction = MAX_API.model("Prediction", {
    "prediction": fields.Integer(required=True, description="Class id (kept for the seed's clients)", example=9),
    "label_id": fields.Integer(required=True, description="Class id", example=9),
    "label": fields.String(required=True, description="Class name", example="Ankle boot"),
    "probability": fields.Float(required=True, description="Softmax probability, 0-1", example=0.97),
})

predict_response = MAX_API.model("PredictResponse", {
    "status": fields.String(required=True, enum=["ok"], example="ok"),
    "predictions": fields.List(fields.Nested(prediction), required=True,
                               description="Most likely first; predictions[0] is the model's answer"),
})


class ModelPredictAPI(PredictAPI):
    @MAX_API.doc("predict")
    @MAX_API.expect(predict_request)
    @MAX_API.response(400, "Missing or unreadable image, or top_k out of range", error_response)
    @MAX_API.response(413, "Upload larger than MAX_CONTENT_LENGTH", error_response)
    @MAX_API.marshal_with(predict_response)
    def post(self):
        """Classify an image of a clothing item"""
        args = predict_request.parse_args()
        predictions = served_model().classify(args["image"].read(), top_k=args["top_k"])
        return {"status": "ok", "predictions": predictions}
