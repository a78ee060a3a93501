"""GET /model/labels: the ten classes in Fashion-MNIST's own order."""

from flask_restx import fields
from maxfw.core import MAX_API, CustomMAXAPI

from core.labels import NUM_CLASSES, labels_as_records

label = MAX_API.model(
    "Label",
    {
        "id": fields.Integer(required=True, description="Class index the model outputs", example=9),
        "name": fields.String(required=True, description="Class name", example="Ankle boot"),
    },
)

labels_response = MAX_API.model(
    "LabelsResponse",
    {
        "count": fields.Integer(required=True, description="Number of classes", example=NUM_CLASSES),
        "labels": fields.List(fields.Nested(label), required=True),
    },
)


class ModelLabelsAPI(CustomMAXAPI):
    @MAX_API.doc("labels")
    @MAX_API.marshal_with(labels_response)
    def get(self):
        """The classes the model can predict, by id"""
        records = labels_as_records()
        return {"count": len(records), "labels": records}
