"""Real services for the tests: a moto S3 server over HTTP on 127.0.0.1, a Chroma server, redis-server and `ingest
worker` processes, real documents, the real CLI."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
import chromadb
import kombu
import pytest
import redis
import requests
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
INGEST = str(Path(sys.executable).parent / "ingest")
EXAMPLES = ROOT / "examples" / "documents"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus"
FAKE_KEYS = {
    "AWS_ACCESS_KEY_ID": "AKIAINGESTTESTKEY000",
    "AWS_SECRET_ACCESS_KEY": "ingest-test-secret-0000",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session", autouse=True)
def offline_env():
    """Fixed fake credentials and no lookups outside this machine, for every test and every subprocess."""
    saved = dict(os.environ)
    os.environ.update(FAKE_KEYS)
    os.environ.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "DO_NOT_TRACK": "true",
            "ANONYMIZED_TELEMETRY": "False",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    yield
    os.environ.clear()
    os.environ.update(saved)


def stop_process(process: subprocess.Popen, sig: int, timeout: float) -> None:
    """Ask a server to stop with ``sig``; kill it when it has not within ``timeout`` seconds."""
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(tmp: Path, **env: str):
    port = free_port()
    log = (tmp / f"moto-{port}.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MOTO_RECORDER_FILEPATH": str(tmp / f"recording-{port}.jsonl"), **env},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/moto-api/", timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"moto_server did not start: see {log.name}")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    process, url = start_moto(tmp_path_factory.mktemp("moto"))
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def s3(s3_endpoint):
    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def bucket(s3):
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


class Recorder:
    """moto's own request recorder: what the tool really asked the server for."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def start(self):
        requests.post(f"{self.endpoint}/moto-api/recorder/reset-recording", timeout=5)
        requests.post(f"{self.endpoint}/moto-api/recorder/start-recording", timeout=5)

    def stop(self) -> list[dict]:
        requests.post(f"{self.endpoint}/moto-api/recorder/stop-recording", timeout=5)
        text = requests.get(f"{self.endpoint}/moto-api/recorder/download-recording", timeout=5).text
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def object_gets(self, bucket: str) -> list[str]:
        """The object downloads (GETs of a key, not of the bucket listing) in the recording."""
        entries = self.stop()
        return [
            e["url"]
            for e in entries
            if e["method"] == "GET"
            and f"/{bucket}/" in e["url"]
            and "list-type" not in e["url"]
            and not e["url"].rstrip("/").endswith(bucket)
        ]


@pytest.fixture
def recorder(s3_endpoint):
    return Recorder(s3_endpoint)


class WebhookReceiver(http.server.ThreadingHTTPServer):
    """A receiver that answers ``statuses`` in turn (then 200) and keeps what it got."""

    def __init__(self, statuses=()):
        self.statuses, self.requests = list(statuses), []
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler):
                body = handler.rfile.read(int(handler.headers["Content-Length"]))
                with lock:
                    status = self.statuses.pop(0) if self.statuses else 200
                    self.requests.append((status, dict(handler.headers), body))
                handler.send_response(status)
                handler.end_headers()

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def delivered(self) -> list[dict]:
        return [json.loads(body) for status, _, body in self.requests if status == 200]


def upload_folder(s3, bucket: str, folder: Path, prefix: str) -> dict[str, Path]:
    uploaded = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = prefix + path.relative_to(folder).as_posix()
            s3.upload_file(str(path), bucket, key)
            uploaded[key] = path
    return uploaded


@pytest.fixture
def ingest(tmp_path, s3_endpoint):
    """Run the real CLI in-process, as a user would from the shell; outputs, downloads and the Chroma store go
    under tmp_path. Tests of the vector index ask for it (vectors=True); the others leave it off to stay quick.
    No --max-memory: workers forked from the test process count its pages (models of earlier tests) as theirs;
    the memory limit is tested with the console script (test_workers, test_bad_inputs)."""

    def run(*args: str, out: Path | None = None, endpoint: bool = True, vectors: bool = False):
        argv = list(args)
        if endpoint and not any(a.startswith("--endpoint-url") for a in argv) and "--local-path" not in argv:
            argv += ["--endpoint-url", s3_endpoint]
        argv += ["--structured-output-dir", str(out or tmp_path / "out"), "--download-dir", str(tmp_path / "downloads")]
        argv += ["--max-memory", "0"]
        if not vectors:
            argv.append("--no-vectors")
        elif "--chroma-host" not in argv and "--chroma-path" not in argv:
            argv += ["--chroma-path", str(tmp_path / "chroma")]
        return CliRunner().invoke(main_command(), argv, catch_exceptions=False)

    return run


def main_command():
    from ingest.cli import main

    return main


def summary(result) -> str:
    """The one summary line the CLI prints on stdout."""
    return [line for line in result.stdout.splitlines() if line.startswith("ingest: ")][-1]


@pytest.fixture
def corpus():
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    return CORPUS


def copy_examples(dest: Path) -> Path:
    shutil.copytree(EXAMPLES, dest)
    return dest


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    log = (tmp_path / "chroma-server.log").open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "chroma"),
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.3)
    yield port
    process.terminate()
    process.wait(10)


def collection_state(path: Path) -> dict:
    """Everything a reader of the collection sees: id -> (text, metadata)."""
    coll = chromadb.PersistentClient(path=str(path)).get_or_create_collection("ingest")
    got = coll.get(include=["documents", "metadatas"])
    return {i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=False)}


def output_state(folder: Path) -> dict:
    """Every output file and its content (the ledger and lock are bookkeeping, not outputs)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".ingest" not in p.relative_to(folder).parts and not p.name.startswith(".")
    }


def run_local(folder: Path, out: Path, *args: str, fault: str | None = None, timeout: float = 300):
    """The console script as a user runs it, with the test-only fault hook on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(TESTS / "crash")}
    if fault:
        env["INGEST_TEST_FAULT"] = fault
    command = [
        INGEST,
        "--local-path",
        str(folder),
        "--structured-output-dir",
        str(out),
        "--no-vectors",
        "--summary-json",
        str(out.parent / "summary.json"),
        *args,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr, json.loads((out.parent / "summary.json").read_text())


SERVE_TOKEN = "serve-test-token-0123456789abcdef"


class IngestServer:
    """``ingest serve`` in a process of its own, and a few calls on its API."""

    def __init__(self, tmp_path: Path, *args: str, env: dict | None = None, vectors: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out = tmp_path / "out"
        self.log = tmp_path / f"serve-{self.port}.log"
        command = [
            INGEST,
            "serve",
            "--port",
            str(self.port),
            "--structured-output-dir",
            str(self.out),
            "--download-dir",
            str(tmp_path / "downloads"),
            *(["--chroma-path", str(tmp_path / "chroma")] if vectors else ["--no-vectors"]),
            *args,
        ]
        environment = {
            **os.environ,
            "INGEST_SERVE_TOKEN": SERVE_TOKEN,
            "PYTHONPATH": str(TESTS / "crash"),
            **(env or {}),
        }
        self.process = subprocess.Popen(command, stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=environment)
        self.bodies: list[bytes] = []  # every answer, to look for secrets in
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.get("/api/health")
                return
            except requests.ConnectionError:
                assert self.process.poll() is None, self.log.read_text()
                time.sleep(0.2)
        raise AssertionError(f"ingest serve did not answer: {self.log.read_text()}")

    def get(self, path: str, **params) -> requests.Response:
        answer = requests.get(self.url + path, params=params, timeout=60)
        self.bodies.append(answer.content)
        return answer

    def post(self, path: str, token: str | None = SERVE_TOKEN, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = requests.post(self.url + path, headers=headers, timeout=60, **kwargs)
        self.bodies.append(answer.content)
        return answer

    def wait(self, run_id: int, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get(f"/api/runs/{run_id}").json()
            if run["status"] in ("done", "failed"):
                return run
            time.sleep(0.3)
        raise AssertionError(f"run {run_id} did not end: {self.log.read_text()}")

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM, 20)


@pytest.fixture
def ingest_server(tmp_path):
    """Start ``ingest serve`` (with ``SERVE_SERVE_TOKEN``); stopped after the test."""

    started = []

    def start(*args: str, **kwargs) -> IngestServer:
        started.append(IngestServer(tmp_path, *args, **kwargs))
        return started[-1]

    yield start
    for each in started:
        each.stop()


REDIS_PASSWORD = "redis-test-password-0000"


class RedisServer:
    """redis-server from Debian's package on 127.0.0.1, nothing saved to disk: a restart loses every queued task."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.process = folder, free_port(), None
        self.url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                REDIS_PASSWORD,
                "--dir",
                str(self.folder),
            ],
            stdout=(self.folder / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, password=REDIS_PASSWORD)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not start: see {self.folder / 'redis.log'}")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=REDIS_PASSWORD)


RABBIT_PASSWORD = "rabbit-test-password-0000"


class RabbitServer:
    """rabbitmq-server from Debian's package as a node of its own on 127.0.0.1 (its name, ports, data folder and
    Erlang cookie under ``folder``): durable queues and persistent messages survive its restart."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.process = folder / "rabbitmq", free_port(), None
        self.folder.mkdir(exist_ok=True)
        self.url = f"amqp://ingest:{RABBIT_PASSWORD}@127.0.0.1:{self.port}//"
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\ndefault_user = ingest\ndefault_pass = {RABBIT_PASSWORD}\n"
        )
        (self.folder / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "HOME": str(self.folder),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": f"ingest-test-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.folder / "pid"),
        }

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
            env=self.env,
            stdout=(self.folder / "server.log").open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with kombu.Connection(self.url, connect_timeout=1) as connection:
                    connection.connect()
                return
            except OSError:
                assert self.process.poll() is None, (self.folder / "server.log").read_text()
                time.sleep(0.2)
        raise RuntimeError(f"rabbitmq-server did not start: see {self.folder}")

    def stop(self) -> None:
        """Stops the node as its service does (SIGTERM), waiting for it to be gone."""
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        while subprocess.run(["pgrep", "-f", self.env["RABBITMQ_NODENAME"]], capture_output=True).returncode == 0:
            time.sleep(0.2)  # the Erlang VM outlives the script that started it by a moment

    def queues(self) -> list[str]:
        """The names of the queues on the node, as `rabbitmqctl list_queues` gives them."""
        listed = subprocess.run(
            [
                "/usr/lib/rabbitmq/bin/rabbitmqctl",
                "-n",
                self.env["RABBITMQ_NODENAME"],
                "list_queues",
                "name",
                "--formatter",
                "json",
            ],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return [queue["name"] for queue in json.loads(listed.stdout)]


def serve(server):
    """A broker fixture's body: the server started, handed to the test, stopped unless the test stopped it."""
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture
def chroma_port(chroma_server):
    return chroma_server


@pytest.fixture
def start_worker(broker, tmp_path):
    """Starts `ingest worker` processes on the test module's ``broker``; stops them after the test."""
    started = []

    def start(fault: str | None = None, concurrency: int = 2, args: tuple[str, ...] = ()) -> Worker:
        started.append(Worker(broker.url, tmp_path / f"worker-{len(started)}", fault, concurrency, args=args))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


class Worker:
    """`ingest worker` as a user starts it, with the test-only fault hook on its PYTHONPATH."""

    def __init__(
        self,
        url: str,
        folder: Path,
        fault: str | None = None,
        concurrency: int = 2,
        env: dict | None = None,
        args: tuple[str, ...] = (),
    ):
        folder.mkdir(exist_ok=True)
        self.log = folder / "worker.log"
        env = {**(env or os.environ), "PYTHONPATH": str(TESTS / "crash"), "INGEST_TEST_FAULT_DIR": str(folder)}
        if fault:
            env["INGEST_TEST_FAULT"] = fault
        self.process = subprocess.Popen(
            [
                INGEST,
                "worker",
                "--broker-url",
                url,
                "--concurrency",
                str(concurrency),
                "--download-dir",
                str(folder / "downloads"),
                "-v",
                *args,
            ],
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while "ready." not in self.text():
            assert self.process.poll() is None and time.monotonic() < deadline, self.text()
            time.sleep(0.2)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def received(self) -> int:
        return self.text().count("] received")

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM, 60)
