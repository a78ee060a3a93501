"""The request class of the app: uploads stay in memory."""
from __future__ import annotations

import io

from flask import Request


class InMemoryUploadRequest(Request):
    """Uploaded files are kept in memory, never written to disk.

    Werkzeug spools a file part larger than 500 KB to a temporary file: user data on disk, and an error on a
    read-only container filesystem. MAX_CONTENT_LENGTH bounds the whole body, so memory is bounded too.
    app.create_app() makes this the app's request class.
    """

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()
