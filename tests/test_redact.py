"""Credentials never reach a printed line: URLs, SigV4 headers, session tokens, and the environment's own keys."""

from __future__ import annotations

import logging

from ingest.redact import RedactingFormatter, redact, redact_url


def test_a_url_loses_its_user_and_password_only():
    assert redact_url("redis://:s3cret@queue:6379/0") == "redis://***@queue:6379/0"
    assert redact_url("amqp://user:pw@host/vhost") == "amqp://***@host/vhost"
    assert redact_url("http://127.0.0.1:9000/a@b") == "http://127.0.0.1:9000/a@b"  # an @ in the path stays
    assert redact_url(None) is None


def test_headers_and_tokens_in_free_text_are_masked():
    text = (
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/s3/aws4_request, "
        "'X-Amz-Security-Token': 'FwoGZXIvYXdzEXAMPLETOKEN' from https://u:p@host/x"
    )
    masked = redact(text)
    assert "AKIAEXAMPLE" not in masked and "FwoGZXIvYXdzEXAMPLETOKEN" not in masked and "u:p@" not in masked
    assert "Credential=***" in masked and "https://***@host/x" in masked


def test_the_formatter_masks_the_environments_aws_keys_whoever_logs_them(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-example-secret")
    formatter = RedactingFormatter("%(message)s")
    record = logging.LogRecord(
        "botocore", logging.DEBUG, __file__, 1, "signing with %s", ("wJalrXUtnFEMI-example-secret",), None
    )
    assert formatter.format(record) == "signing with ***"
