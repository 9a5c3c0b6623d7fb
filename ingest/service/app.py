"""The web service of ``ingest serve``: a JSON API to submit runs and read the ledger, and pages to watch the runs
and search the index.

Everything shown is read from the output folder's ledger, so a run started from cron shows up and moves as well
as one submitted here. Pages are rendered on the server (Jinja2 escapes every key and message: keys are
untrusted) with one small script that polls the API; the Content-Security-Policy allows no other script. Requests
that change anything need ``Authorization: Bearer <token>``; no page or response holds the token.
"""

from __future__ import annotations

import hmac

from flask import Flask, abort, g, jsonify, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ingest import __version__
from ingest.config import STRATEGIES, ServeConfig
from ingest.errors import ConfigError
from ingest.redact import redact
from ingest.service.requests import BadRequest, requested_run, store_uploads
from ingest.service.scheduler import Scheduler
from ingest.state import RUN_COUNTS, DocumentState, Ledger, ledger_path

DOCUMENT_STATUSES = ("done", "empty", "failed")
RUN_PAGE_DOCUMENTS = 500  # the most documents a run's page lists (refreshed while it runs)
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(config: ServeConfig, scheduler: Scheduler) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_mb * 1024 * 1024

    folders = (config.run.output_dir, *config.watched)

    def folder() -> int:
        """The output folder a request reads (``?folder=N``): 0 is this server's own, then each --watch."""
        value = request.args.get("folder", "0")
        if not value.isdigit():
            raise BadRequest("folder must be a whole number")
        if int(value) >= len(folders):
            abort(404, f"no folder {value}: this server shows {len(folders)}")
        return int(value)

    def ledger(own: bool = False) -> Ledger:
        """The ledger of the folder the request reads, or with ``own`` of the one runs are started on."""
        index = 0 if own else folder()
        ledgers = g.setdefault("ledgers", {})
        if index not in ledgers:
            path = scheduler.ledger_path if index == 0 else ledger_path(folders[index])
            if index and not path.is_file():
                abort(404, f"{folders[index]} has no ledger yet: no run has written there")
            ledgers[index] = Ledger(path)
        return ledgers[index]

    @app.teardown_appcontext
    def close_ledgers(_exc) -> None:
        for each in g.pop("ledgers", {}).values():
            each.close()

    @app.after_request
    def secure(response):
        response.headers.update(_HEADERS)
        return response

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest):
        return jsonify(error=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return jsonify(error=exc.description), exc.code
        return render_template("error.html", code=exc.code, message=exc.description), exc.code

    def authorized() -> None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), config.token.encode()):
            abort(401, "this needs the header Authorization: Bearer <token> (the server's --token)")

    def submit(cfg, options) -> tuple:
        run_id = ledger(own=True).submit(cfg.source.display_url, options.arguments)
        scheduler.wake()
        return {"run_id": run_id, "status_url": _status_url(run_id), "result_url": _result_url(run_id)}, 202

    # -- the API ---------------------------------------------------------------------------------------------------
    @app.get("/api/health")
    def health():
        return {"status": "ok", "version": __version__, "runs": ledger(own=True).run_count()}

    @app.post("/api/runs")
    def start_run():
        authorized()
        body = request.get_json(force=True, silent=True) if request.get_data() else {}  # any content type
        return submit(*requested_run(body, config))

    @app.get("/api/runs")
    def runs():
        page, per_page = _paging()
        rows = ledger().runs(per_page, (page - 1) * per_page)
        return {
            "runs": [_run_json(run, folder()) for run in rows],
            "page": page,
            "per_page": per_page,
            "total": ledger().run_count(),
        }

    @app.get("/api/runs/<int:run_id>")
    def run_status(run_id: int):
        return _run_json(_run_or_404(ledger(), run_id), folder())

    @app.get("/api/runs/<int:run_id>/result")
    def run_result(run_id: int):
        run = _run_or_404(ledger(), run_id)
        if run["summary"] is None:
            why = run["error"] if run["status"] == "failed" else "its summary comes when it ends"
            abort(404, f"run {run_id} is {run['status']}: {why}")
        return run["summary"]

    @app.get("/api/documents")
    def documents():
        status = request.args.get("status") or None
        if status not in (None, *DOCUMENT_STATUSES):
            raise BadRequest(f"status must be one of {', '.join(DOCUMENT_STATUSES)}")
        page, per_page = _paging()
        total, rows = ledger().page(status, request.args.get("prefix", ""), per_page, (page - 1) * per_page)
        return {"documents": [_document_json(doc) for doc in rows], "page": page, "per_page": per_page, "total": total}

    @app.post("/api/uploads")
    def upload():
        authorized()
        body = {name: request.form[name] for name in ("strategy", "callback_url") if request.form.get(name)}
        if request.form.get("reprocess"):
            body["reprocess"] = request.form["reprocess"].lower() in ("1", "true", "yes", "on")
        if config.inbox is None:
            raise BadRequest("uploads are off: start ingest serve with --inbox (a folder or an s3:// prefix)", 404)
        cfg, options = requested_run({**body, "source": config.inbox}, config)
        files = [(upload.filename or "", upload.read()) for upload in request.files.getlist("files")]
        stored = store_uploads(files, config)
        answer, code = submit(cfg, options)
        return answer | {"stored": stored}, code

    @app.get("/api/search")
    def search_api():
        hits = _search(config, request.args.get("q", ""), request.args.get("k", "5"))
        return {"results": hits}

    # -- the pages -------------------------------------------------------------------------------------------------
    @app.get("/")
    def index():
        rows = [_run_json(run, folder()) for run in ledger().runs(20)]
        default = config.run.source.display_url if config.default_source else ""
        return render_template(
            "index.html",
            runs=rows,
            default_source=default,
            strategies=STRATEGIES,
            uploads=config.inbox is not None,
            counts=ledger().counts(),
            folders=folders,
            folder=folder(),
        )

    @app.get("/runs/<int:run_id>")
    def run_page(run_id: int):
        run = _run_json(_run_or_404(ledger(), run_id), folder())
        total, documents = ledger().of_run(run_id, RUN_PAGE_DOCUMENTS)
        return render_template("run.html", run=run, documents=documents, total=total, folder=folder())

    @app.get("/runs/<int:run_id>/documents")
    def run_documents(run_id: int):
        total, documents = ledger().of_run(run_id, RUN_PAGE_DOCUMENTS)
        return render_template("documents.html", documents=documents, total=total)

    @app.get("/search")
    def search_page():
        text = request.args.get("q", "")
        hits, error = [], None
        if text:
            try:
                hits = _search(config, text, "5")
            except BadRequest as exc:
                error = exc.message
        return render_template("search.html", q=text, hits=hits, error=error)

    return app


def _run_or_404(ledger: Ledger, run_id: int) -> dict:
    run = ledger.run(run_id)
    if run is None:
        abort(404, f"no run {run_id} in this ledger")
    return run


def _paging() -> tuple[int, int]:
    try:
        page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 20))
    except ValueError:
        raise BadRequest("page and per_page must be whole numbers") from None
    if page < 1 or not 1 <= per_page <= 100:
        raise BadRequest("page must be 1 or more and per_page 1 to 100")
    return page, per_page


def _status_url(run_id: int, folder: int = 0) -> str:
    return url_for("run_status", run_id=run_id, **({"folder": folder} if folder else {}))


def _result_url(run_id: int, folder: int = 0) -> str:
    return url_for("run_result", run_id=run_id, **({"folder": folder} if folder else {}))


def _run_json(run: dict, folder: int) -> dict:
    queued = run["status"] == "queued"
    return {
        "run_id": run["id"],
        "folder": folder,
        "status": run["status"],
        "source": run["source"],
        "started_at": None if queued else run["started_at"],
        "ended_at": run["ended_at"],
        "counts": {name: run[name] or 0 for name in RUN_COUNTS},
        "documents": {"total": run["total"], "done": run["done"] or 0},
        "exit_code": run["exit_code"],
        "error": run["error"],
        "status_url": _status_url(run["id"], folder),
        "result_url": _result_url(run["id"], folder),
    }


def _document_json(doc: DocumentState) -> dict:
    names = (
        "key",
        "source_url",
        "status",
        "stage",
        "error_type",
        "error",
        "attempts",
        "pages",
        "elements",
        "chunks",
        "seconds",
        "coverage",
        "run_id",
        "updated_at",
        "done_at",
    )
    return {name: getattr(doc, name) for name in names}


def _search(config: ServeConfig, text: str, k: str) -> list[dict]:
    """The chunks nearest to ``text`` in the runs' collection, as ``ingest query`` finds them."""
    from ingest import api

    if not config.run.index.enabled:
        raise BadRequest("this server's runs store no vectors (--no-vectors): there is no index to search", 409)
    if not text.strip() or len(text) > 2000:
        raise BadRequest("q must be a question of 1 to 2000 characters")
    if not k.isdigit() or not 1 <= int(k) <= 50:
        raise BadRequest("k must be a whole number from 1 to 50")
    try:
        hits = api.query(text, config.run.index, int(k))
    except ConfigError as exc:
        raise BadRequest(redact(exc.message), 409) from None
    return [
        {
            "text": chunk,
            "source": meta.get("source"),
            "page_number": meta.get("page_number"),
            "score": round(1 - distance, 4),
        }
        for chunk, meta, distance in hits
    ]
