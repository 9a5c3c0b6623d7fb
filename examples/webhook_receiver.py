"""Receive ingest's webhooks and check their signatures: INGEST_WEBHOOK_SECRET=... python webhook_receiver.py 8765"""

import hashlib  # noqa: E401
import hmac
import http.server
import json
import os
import sys
import time

SECRET = os.environ["INGEST_WEBHOOK_SECRET"].encode()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers.get("X-Ingest-Timestamp", "")
        expected = "sha256=" + hmac.new(SECRET, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300  # refuse replays of old requests
        valid = fresh and hmac.compare_digest(expected, self.headers.get("X-Ingest-Signature", ""))
        self.send_response(204 if valid else 401)
        self.end_headers()
        print(json.dumps({"valid": valid, **json.loads(body)}), flush=True)  # a real receiver acts on valid ones

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
