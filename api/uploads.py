"""How an upload is read: multipart bodies parsed with python-multipart, files kept in memory."""

from __future__ import annotations

import io
from typing import IO, TYPE_CHECKING

from flask import Request
from python_multipart.multipart import MultipartParser, MultipartState
from werkzeug.datastructures import FileStorage, Headers, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

if TYPE_CHECKING:  # python-multipart declares its callbacks' type for type checkers only
    from python_multipart.multipart import MultipartCallbacks

READ_CHUNK_BYTES = 64 * 1024
PART_CHARSETS = {"ascii", "us-ascii", "utf-8", "iso-8859-1"}  # Werkzeug's list: anything else is read as UTF-8


class MultipartFormDataParser(FormDataParser):
    """Werkzeug's form parser, with multipart bodies parsed by python-multipart.

    Werkzeug compiles two regular expressions for every multipart boundary it meets, and a real client (curl,
    requests, a browser) picks a new random boundary for every request, so Python's regex cache never helps;
    python-multipart costs the same whatever the boundary (figures: docs/performance.md). Everything else
    (URL-encoded forms, the size and part limits, the errors) stays Werkzeug's.
    """

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]
    ) -> tuple[IO[bytes], MultiDict, MultiDict]:
        """python-multipart first; a body it refuses goes to Werkzeug's own parser, which is laxer (Werkzeug's
        test client, for one, writes an empty file part without the line break before the next boundary) and
        words the errors the way the rest of the app expects."""
        boundary = options.get("boundary", "").encode("latin-1")
        if not boundary:
            raise ValueError("Missing boundary")
        chunks: list[bytes] = []
        try:
            return stream, *self._parse_with_python_multipart(stream, boundary, content_length, chunks)
        except ValueError:
            body = io.BytesIO(b"".join([*chunks, stream.read()]))
            return super()._parse_multipart(body, mimetype, content_length, options)

    def _parse_with_python_multipart(
        self, stream: IO[bytes], boundary: bytes, content_length: int | None, chunks: list[bytes]
    ) -> tuple[MultiDict, MultiDict]:
        """Parses while it reads, keeping what it read in chunks (for Werkzeug, should this fail)."""
        parts = _PartCollector(self, content_length)
        parser = MultipartParser(boundary, parts.callbacks())
        for chunk in iter(lambda: stream.read(READ_CHUNK_BYTES), b""):
            chunks.append(chunk)
            parser.write(chunk)
        if parser.state != MultipartState.END:
            raise ValueError("Unexpected end of form data")
        return self.cls(parts.fields), self.cls(parts.files)


class _PartCollector:
    """python-multipart's callbacks, building Werkzeug's form fields and FileStorage files from the parts."""

    def __init__(self, owner: FormDataParser, content_length: int | None) -> None:
        self.owner = owner
        self.content_length = content_length
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, FileStorage]] = []
        self.parts = 0
        self._header_lines: list[tuple[bytes, bytes]] = []
        self._name = self._value = b""
        self._headers = Headers()
        self._target: IO[bytes] | list[bytes] = []
        self._size = 0
        self._filename: str | None = None
        self._part_name = ""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.owner.max_form_parts is not None and self.parts > self.owner.max_form_parts:
            raise RequestEntityTooLarge()
        self._header_lines = []
        self._name = self._value = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._header_lines.append((self._name, self._value))
        self._name = self._value = b""

    def on_headers_finished(self) -> None:
        """Strict UTF-8 headers (as Werkzeug reads them); a part with a filename is a file, any other a field."""
        self._headers = Headers([(name.decode().strip(), value.decode().strip()) for name, value in self._header_lines])
        _, disposition = parse_options_header(self._headers.get("content-disposition"))
        self._filename = disposition.get("filename")
        self._part_name = disposition.get("name", "")
        self._size = 0
        if self._filename is None:
            self._target = []
        else:
            self._target = self.owner.stream_factory(
                total_content_length=self.content_length,
                filename=self._filename,
                content_type=self._headers.get("content-type"),
                content_length=0,
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if isinstance(self._target, list):
            self._size += len(chunk)
            limit = self.owner.max_form_memory_size
            if limit is not None and self._size > limit:
                raise RequestEntityTooLarge()
            self._target.append(chunk)
        else:
            self._target.write(chunk)

    def on_part_end(self) -> None:
        if isinstance(self._target, list):
            self.fields.append((self._part_name, b"".join(self._target).decode(self._charset(), "replace")))
            return
        self._target.seek(0)
        self.files.append(
            (self._part_name, FileStorage(self._target, self._filename, self._part_name, headers=self._headers))
        )

    def _charset(self) -> str:
        _, parameters = parse_options_header(self._headers.get("content-type"))
        charset = parameters.get("charset", "").lower()
        return charset if charset in PART_CHARSETS else "utf-8"


class InMemoryUploadRequest(Request):
    """Uploaded files are kept in memory, never written to disk, and multipart bodies are parsed fast.

    Werkzeug spools a file part larger than 500 KB to a temporary file: user data on disk, and an error on a
    read-only container filesystem. MAX_CONTENT_LENGTH bounds the whole body, so memory is bounded too.
    app.create_app() makes this the app's request class.
    """

    form_data_parser_class = MultipartFormDataParser

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()
