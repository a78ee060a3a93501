"""The demo page's HTTP side, through Flask's test client: what /app/ serves, its headers, and that every
asset is local (the page must work offline). Its behaviour in a browser is in test_browser.py."""

import re

import pytest

from api.demo import DEMO_DIR

ASSETS = sorted(p.name for p in DEMO_DIR.iterdir())


def test_page_is_served_at_app(client):
    response = client.get("/app/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "<title>Fashion-MNIST classifier" in response.get_data(as_text=True)


def test_app_without_slash_redirects_so_relative_urls_resolve(client):
    response = client.get("/app")
    assert response.status_code == 308 and response.headers["Location"].endswith("/app/")


@pytest.mark.parametrize(
    "path, mimetype",
    [("/app/app.js", "text/javascript"), ("/app/app.css", "text/css"), ("/app/favicon.svg", "image/svg+xml")],
)
def test_assets_are_served_with_their_types(client, path, mimetype):
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == mimetype


@pytest.mark.parametrize("path", ["/app/", "/app/app.js", "/app/app.css", "/app/no-such-file.js"])
def test_security_headers(client, path):
    headers = client.get(path).headers
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'", "no inline code"
    assert policy["img-src"] == "'self' data:"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/app/../config.py", "/app/%2e%2e/config.py", "/app/..%2fapp.py", "/app/no-such-file.js"]
)
def test_nothing_outside_the_demo_folder_is_served(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json()["status"] == "error"


def test_the_api_is_not_changed_by_the_demo(client):
    assert client.get("/").status_code == 200 and "swagger-ui" in client.get("/").get_data(as_text=True)
    assert "/app/" not in client.get("/swagger.json").get_json()["paths"], "a client of the API, not part of it"


@pytest.mark.parametrize("name", ASSETS)
def test_every_asset_is_local_and_no_code_is_inline(name):
    """Nothing from a CDN or any other host (works offline and under the CSP), no inline script or style."""
    text = (DEMO_DIR / name).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), f"{name} loads something remote"
    assert not re.search(r"""url\(\s*["']?(https?:)?//""", text), f"{name} loads something remote"
    if name.endswith(".html"):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "an inline <script>"
        assert "<style" not in text and not re.search(r"\sstyle\s*=", text), "inline style"
        assert not re.search(r"\son[a-z]+\s*=", text), "an inline event handler"
    if name.endswith(".js"):
        assert "innerHTML" not in text, "user-supplied text (file names) is only ever set as text"
