"""GET /app/: the web demo page (api/static/app/), a plain HTML/CSS/JS client of the public /model/predict.

IBM's MAX models mount their web app with MAXApp.mount_static('/app/'): index.html from Flask's static
folder, whose other files Flask serves at the site root (MAXApp sets static_url_path=''). MAXApp names the
Flask app after its title, not a module, so that folder is static/ in whatever the working directory is.
A blueprint of its own keeps the page and its CSS and JS together under /app/, found next to this file.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, send_from_directory

DEMO_DIR = Path(__file__).resolve().parent / "static" / "app"
DEMO_URL_PREFIX = "/app"

# Everything the page loads comes from this server; images may also be data: URLs (the previews and the
# API's model_input). No inline script or style is allowed, so injected markup cannot run.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

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


def register_demo(app: Flask) -> None:
    """Mount the demo page at /app/ (kept out of Swagger: it is a client of the API, not part of it)."""
    app.register_blueprint(demo)
