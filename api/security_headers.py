"""Headers that protect every answer and the browser-facing pages: no MIME sniffing anywhere, and a
Content-Security-Policy on Swagger UI (the demo page sets its own, in api/demo.py)."""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request

SWAGGER_UI_ENDPOINT = "doc"  # flask-restx's Swagger UI page, at /
# Swagger UI (flask-restx's template) has one inline script that starts it; its other files are this server's
# own (/swaggerui/). That script is allowed by its hash, computed from each page as it is sent, so a change of
# template or setting cannot break the page and no other inline script may run. React sets inline styles
# and the template has a style attribute, hence 'unsafe-inline' for styles, on this page only.
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
SWAGGER_UI_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "script-src 'self' {script_hashes}",
        "style-src 'self' 'unsafe-inline'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def script_hash(script: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode("ascii") + "'"


def swagger_ui_policy(page: bytes) -> str:
    """The Swagger UI page's CSP: only its own inline script(s), by hash, beside this server's files."""
    return SWAGGER_UI_POLICY.format(script_hashes=" ".join(script_hash(s) for s in INLINE_SCRIPT.findall(page)))


def add_site_headers(response: Response) -> Response:
    """On every response: no MIME sniffing (an upload echoed back, or JSON, is never run as HTML or script);
    a CSP on Swagger UI at /, the other HTML page besides the demo's."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.endpoint == SWAGGER_UI_ENDPOINT and response.mimetype == "text/html" and not response.is_streamed:
        response.headers["Content-Security-Policy"] = swagger_ui_policy(response.get_data())
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def register_security_headers(app: Flask) -> None:
    app.after_request(add_site_headers)
