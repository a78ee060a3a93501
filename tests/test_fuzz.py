"""Fuzz smoke test: schemathesis generates requests from our own /swagger.json for every operation and sends
them to the real server.

No 5xx, and every answer matches the documented status codes, headers, content types and schemas. Two checks are
left out, by design: positive_data_acceptance expects every schema-valid request to be accepted, but the schema of
an upload is "a file", and random bytes are rightly refused with a 400; negative_data_rejection expects unknown
extra form fields to be refused, but they are tolerated, as MAX clients send fields of their own (the refusals
that matter, such as top_k out of range, have their own tests). `make stress` runs it with more examples.
"""

import subprocess

import pytest

from benchmarks.stress import schemathesis_command

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = 10


def test_every_operation_answers_as_documented(live_server, tmp_path):
    result = subprocess.run(
        schemathesis_command(live_server, EXAMPLES_PER_OPERATION),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    assert "Tested: 13" in result.stdout or "13/13" in result.stdout
