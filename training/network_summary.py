"""The network as the model file holds it, layer by layer: the card's architecture comes from the file itself,
never from today's training defaults (which may have changed since the model was trained)."""

from __future__ import annotations

from pathlib import Path


def _pair(value: object) -> str:
    """(3, 3) → '3×3'; a single number stays as it is."""
    return "×".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


def layer_detail(kind: str, settings: dict) -> str:
    """The one or two settings that say what a layer does (filters, units, rate, activation...)."""
    if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        return (
            f"{_pair(settings.get('kernel_size'))}, {settings.get('filters', '')} filters, stride "
            f"{_pair(settings.get('strides'))}" + ("" if settings.get("use_bias", True) else ", no bias")
        )
    if kind == "Dense":
        return f"{settings.get('units')} units, {settings.get('activation')}" + (
            "" if settings.get("use_bias", True) else ", no bias"
        )
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        return _pair(settings.get("pool_size"))
    if kind == "Dropout":
        return f"rate {settings.get('rate')}"
    if kind == "Activation":
        return str(settings.get("activation"))
    return ""


def describe_network(model_path: Path) -> dict:
    """Parameter count and every layer's type, detail, output shape (no batch axis) and parameters."""
    import keras

    network = keras.models.load_model(model_path, compile=False)
    layers = [
        {
            "name": layer.name,
            "type": type(layer).__name__,
            "detail": layer_detail(type(layer).__name__, layer.get_config()),
            "output_shape": [int(side) for side in layer.output.shape[1:]],
            "parameters": int(layer.count_params()),
        }
        for layer in network.layers
    ]
    return {"name": network.name, "parameters": int(network.count_params()), "layers": layers}
