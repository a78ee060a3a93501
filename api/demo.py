"""GET /app/: the web demo page (api/static/app/), a plain HTML/CSS/JS client of the public /model/predict.

IBM's MAX models mount their web app with MAXApp.mount_static('/app/'): index.html from Flask's static
folder, whose other files Flask serves at the site root (MAXApp sets static_url_path=''). MAXApp names the
Flask app after its title, not a module, so that folder is static/ in whatever the working directory is.
A blueprint of its own keeps the page and its CSS and JS together under /app/, found next to this file.
"""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from flask import Blueprint, Flask, Response, request, send_from_directory

DEMO_DIR = Path(__file__).resolve().parent / "static" / "app"
DEMO_URL_PREFIX = "/app"

# Everything the page loads comes from this server; images may also be data: URLs (the previews and the
# API's model_input). No inline script or style is allowed, so injected markup cannot run.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "img-src 'self' data:",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

SWAGGER_UI_ENDPOINT = "doc"  # flask-restx's Swagger UI page, at /
# Swagger UI (flask-restx's template) has one inline script that starts it; its other files are this server's
# own (/swaggerui/). That script is allowed by its hash, computed from each page as it is sent, so a change of
# template or setting cannot break the page and no other inline script may run. React sets inline styles
# and the template has a style attribute, hence 'unsafe-inline' for styles, on this page only.
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
SWAGGER_UI_POLICY = "; ".join([
    "default-src 'self'",
    "img-src 'self' data:",
    "script-src 'self' {script_hashes}",
    "style-src 'self' 'unsafe-inline'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

demo = Blueprint("demo", __name__, url_prefix=DEMO_URL_PREFIX)


@demo.get("/")
def index() -> Response:
    """The page itself; /app (no slash) redirects here, so the page's relative URLs resolve under /app/."""
    return send_from_directory(DEMO_DIR, "index.html")


@demo.get("/<path:filename>")
def asset(filename: str) -> Response:
    """The page's CSS and JS; send_from_directory refuses paths that leave DEMO_DIR (404)."""
    return send_from_directory(DEMO_DIR, filename)


@demo.after_request
def add_security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


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


def register_demo(app: Flask) -> None:
    """Mount the demo page at /app/ (kept out of Swagger: it is a client of the API, not part of it), and set
    the headers that protect the service's browser-facing pages (this module's concern) on every response."""
    app.register_blueprint(demo)
    app.after_request(add_site_headers)
