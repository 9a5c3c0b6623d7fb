"""Credentials never reach a log line, a message, the ledger or an output: what could hold one passes through here."""

from __future__ import annotations

import logging
import os
import re

_SECRET_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_PATTERNS = [
    (re.compile(r"(?<=://)[^/@\s'\"]+@"), "***@"),  # user:password@ in any URL
    (re.compile(r"(Credential=)[^/\s,'\"]+"), r"\1***"),  # the access key id in a SigV4 Authorization header
    (re.compile(r"((?:X-Amz-Security-Token|x-amz-security-token)['\"]?\s*[:=]\s*b?['\"]?)[^'\"\s,&}]+"), r"\1***"),
]


def redact_url(url: str | None) -> str | None:
    """A URL without its user:password part: for anything that is printed, logged or stored."""
    if not url or "@" not in url.partition("://")[2].partition("/")[0]:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.partition('@')[2]}"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats a record, traceback included, then masks the AWS credentials of the environment and the patterns
    above, whoever logged it: botocore's debug logs, for one, print request headers with the session token."""

    def __init__(self, fmt: str):
        super().__init__(fmt)
        values = {os.environ.get(name, "") for name in _SECRET_VARIABLES}
        self.secrets = tuple(sorted((v for v in values if len(v) >= 8), key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)
