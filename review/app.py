"""The review web app: the queue, each document as the official grids, and the reviewer's actions.

    nianbao review --db results.sqlite [--port 8765] [--host 127.0.0.1] [--token T]

A thin Flask layer over ``queue.py`` and ``corrections.py``. Reports are untrusted input (an HTML
report may carry script), so:
- every piece of document text reaches the page through Jinja's autoescaping or ``textContent``;
  the Content-Security-Policy allows scripts from this app's own static file only;
- every write needs the session's CSRF token (a header for the JSON API, a form field for forms)
  and a same-origin request; the session cookie is SameSite=Strict and HttpOnly;
- documents are addressed by their store id and fields by their schema key, checked against the
  store: no file path is ever taken from a request;
- it binds to 127.0.0.1; binding elsewhere requires an access token (``--token``, at least
  ``nianbao.web.MIN_TOKEN_LENGTH`` characters). The token is taken from the URL once, kept in the session
  cookie, and the browser is sent to the same URL without it; the access log never shows it;
- every request must name an allowed host in its Host header (loopback names, the bound address,
  ``--allow-host``): a page whose DNS name is rebound to 127.0.0.1 gets 400 and no data, and a write
  must come from an Origin among the allowed hosts on this port;
- a cell image is rendered under a pixel cap (``MAX_RENDER_PIXELS``), whatever the page size.
"""
from __future__ import annotations

import hmac
import io
import json
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union
from urllib.parse import urlencode, urlsplit

from flask import Flask, abort, jsonify, redirect, render_template, request, session, url_for

from nianbao.ingest.report_labels import check_statement, field_label, label_keys_in_text
from nianbao.jsonio import json_depth_exceeds
# Host, token and bind checks and strict JSON answers, shared with the extraction service (nianbao/web.py).
from nianbao.web import (StrictJSONProvider, allowed_host_names, check_bind, check_token, normal_host, request_handler,
                         split_host)
from nianbao.inputs import path_from_display
from nianbao.ingest.store import (FINDING_STATUSES, CheckReview, FindingVerdicts, Store, StoreError, finding_key,
                                  open_store)
from nianbao.labels import TABLES
from nianbao.inference.readers import IMAGE_SUFFIXES
from nianbao.schema import DEFAULT_TEMPLATE, load_schema

from . import corrections
from .corrections import REVIEWED, ReviewError, format_number, json_number
from .queue import AcceptPolicy, QueueFilters, load_accept_policy, next_document, review_queue

TABLE_TITLES = load_schema().table_titles()  # the official titles
MAX_JSON_DEPTH = 32          # a request body nests a few levels; anything deeper is refused, not recursed into
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@dataclass
class ReviewConfig:
    """One object configures the app (the CLI fills it)."""

    db: Union[Path, str]  # a SQLite file or a postgresql:// URL
    labels_dir: Path = corrections.DEFAULT_LABELS_DIR
    reviewer: str = "reviewer"
    token: Optional[str] = None         # required on every request when set (needed off loopback)
    accept_threshold: Optional[float] = None  # None: the measured policy's threshold
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    host: str = "127.0.0.1"             # the bound address: an allowed Host name besides the loopback names
    allow_hosts: tuple[str, ...] = ()   # more allowed Host names (--allow-host: the machine's name on a LAN)

    def __post_init__(self):
        check_token(self.token)

    def allowed_hosts(self) -> frozenset[str]:
        return allowed_host_names(self.host, self.allow_hosts)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def strict_json_body(data: bytes) -> dict:
    """A request's JSON object: strict (no NaN/Infinity), not nested past ``MAX_JSON_DEPTH``; anything
    else is a ReviewError (400), never a RecursionError (500)."""
    if not data:
        return {}
    try:
        body = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise ReviewError("the request's JSON is nested too deeply") from None
    except ValueError as e:
        raise ReviewError(f"the request is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise ReviewError("the request's JSON is not an object")
    if json_depth_exceeds(body, MAX_JSON_DEPTH):
        raise ReviewError("the request's JSON is nested too deeply")
    return body


# -- grids --------------------------------------------------------------------------------------
@dataclass
class GridCell:
    key: str
    value: Optional[float]
    raw: Optional[str]
    confidence: Optional[float]
    doubtful: bool
    failing: bool
    reviewed: bool
    alternatives: list = field(default_factory=list)
    reason: Optional[str] = None

    @property
    def display(self) -> str:
        return format_number(self.value)


@dataclass
class GridRow:
    key: str
    label: str                    # the official row header (schema.json "headers"), with its numbering
    group: Optional[str]          # the official header of the row's group (（三）不予公开), when it has one
    cells: dict[str, GridCell]


@dataclass
class HeaderCell:
    text: str
    rowspan: int = 1
    colspan: int = 1
    key: Optional[str] = None     # the column key under a column's own header


@dataclass
class Grid:
    table: str
    title: str
    found: bool
    columns: list[str]
    rows: list[GridRow]
    confirmed: bool
    header_rows: list[list[HeaderCell]] = field(default_factory=list)  # official headers, merged as printed
    corner: str = ""


def grid_header_rows(headers, columns: list[str]) -> list[list[HeaderCell]]:
    """The official column headers over ``columns``, one list per header row, merged as printed
    (申请人情况 over all seven, 法人或其他组织 over five)."""
    from nianbao.ingest.export_xlsx import column_path, header_rows

    cells = header_rows([column_path(headers, c) for c in columns], 0, 0)
    depth = max((c.row + c.rowspan for c in cells), default=0)
    rows: list[list[HeaderCell]] = [[] for _ in range(depth)]
    for c in sorted(cells, key=lambda c: (c.row, c.col)):
        own = c.row + c.rowspan == depth and c.colspan == 1
        rows[c.row].append(HeaderCell(c.value, c.rowspan, c.colspan, columns[c.col] if own else None))
    return rows


def build_grids(doc: corrections.StoredDocument, policy: AcceptPolicy) -> list[Grid]:
    """The statutory tables of the document's template as rows × columns of its stored fields, under
    the official Chinese row and column headers."""
    schema = load_schema()
    template = doc.record.template or DEFAULT_TEMPLATE
    failing = {k for c in doc.record.checks if not c.passed for k in c.cells or []}
    grids = []
    for name in TABLES:
        spec = schema.table(template, name)
        headers = schema.headers(template, name)
        columns: list[str] = []
        for r in spec.rows:
            columns += [c for c in r.columns if c not in columns]
        rows = []
        for r in spec.rows:
            cells = {}
            for col in r.columns:
                key = f"{name}.{r.key}.{col}"
                f = doc.record.fields.get(key)
                if f is None:
                    continue
                conf = f.confidence
                reviewed = f.reason == REVIEWED
                cells[col] = GridCell(key=key, value=f.value, raw=f.raw, confidence=conf,
                                      doubtful=not reviewed and conf is not None and conf < policy.threshold,
                                      failing=key in failing, reviewed=reviewed, alternatives=f.alternatives or [],
                                      reason=None if reviewed else f.reason)
            path = headers.row_path(r)
            rows.append(GridRow(key=r.key, label=path[-1], group=" · ".join(path[1:-1] if len(path) > 2 else path[:-1])
                                or None, cells=cells))
        keys = [c for row in rows for c in row.cells.values()]
        grids.append(Grid(table=name, title=TABLE_TITLES[name], found=bool(doc.found.get(name)), columns=columns,
                          rows=rows, confirmed=bool(keys) and all(c.reviewed for c in keys),
                          header_rows=grid_header_rows(headers, columns),
                          corner=headers.corner or (headers.sections[0].label_header if headers.sections else "")))
    return grids


# -- findings and their verdicts ----------------------------------------------------------------
NOTE_MAX = 500  # characters of a reviewer's note on a finding


@dataclass
class FindingView:
    """A failed check of the document as the page lists it, with the verdict that stands on it."""

    key: str                       # ``finding_key``: what a verdict names
    rule: str
    detail: Optional[str]
    cells: list
    confidence: Optional[float] = None
    sentence: Optional[str] = None
    page: Optional[int] = None
    status: str = "open"           # open | confirmed | dismissed
    reviewer: Optional[str] = None
    at: Optional[str] = None
    note: Optional[str] = None


def document_findings(doc: corrections.StoredDocument, reviews) -> list[FindingView]:
    """The document's failed checks, each with its verdict (the last one given on it)."""
    verdicts = FindingVerdicts(reviews)
    out = []
    for c in doc.record.checks:
        if c.passed:
            continue
        key = finding_key(c.rule, c.cells or [], c.position)
        v = verdicts.get(doc.id, "document", c.rule, key)
        out.append(FindingView(key=key, rule=c.rule, detail=c.detail, cells=c.cells or [],
                               confidence=c.confidence, sentence=c.sentence, page=c.page,
                               status=v.status if v else "open", reviewer=v.reviewer if v else None,
                               at=(v.created_at or "")[:19].replace("T", " ") if v else None, note=v.note if v else None))
    return out


# -- what a cell looks like in its source ------------------------------------------------------

MAX_RENDER_PIXELS = 4_000_000    # a rendered page (or a source image held in memory) stays under this
MAX_IMAGE_PIXELS = 64_000_000    # an image file larger than this is not opened (a 300 dpi A3 scan is 17 Mpx)
MAX_PAGE_POINTS = 14_400         # PDF's own limit on a page side (200 inches); larger pages are refused
PDF_SCALE = 2.0                  # pixels per point when the page is small enough


def render_scale(width_pt: float, height_pt: float, wanted: float = PDF_SCALE,
                 max_pixels: int = MAX_RENDER_PIXELS) -> float:
    """Pixels per point for a page: ``wanted``, lowered so the raster stays under ``max_pixels``
    (decided from the page size before anything is rendered). Absurd sizes are a ReviewError."""
    if not (math.isfinite(width_pt) and math.isfinite(height_pt)) or width_pt <= 0 or height_pt <= 0:
        raise ReviewError("the page has no size")
    if width_pt > MAX_PAGE_POINTS or height_pt > MAX_PAGE_POINTS:
        raise ReviewError(f"the page is {width_pt:.0f} × {height_pt:.0f} points, larger than a PDF page can be; "
                          f"not rendered")
    fit = math.sqrt(max_pixels / (width_pt * height_pt))
    return min(wanted, fit)


def cell_image(path: Path, page: int, bbox: list[float], margin: float = 6.0) -> bytes:
    """A PNG of one cell's box on its page (PDF pages in points, rendered at 2 px a point, less on a
    page too large for ``MAX_RENDER_PIXELS``; image files in their own pixels, refused above
    ``MAX_IMAGE_PIXELS``)."""
    from PIL import Image

    if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(isinstance(v, (int, float)) and math.isfinite(v)
                                                                       for v in bbox)):
        raise ReviewError("the cell has no usable box")
    x0, top, x1, bottom = bbox
    if path.suffix.lower() == ".pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            if not 1 <= page <= len(pdf):
                raise ReviewError(f"the document has no page {page}")
            pdf_page = pdf[page - 1]
            scale = render_scale(*pdf_page.get_size())
            image = pdf_page.render(scale=scale).to_pil()
        finally:
            pdf.close()
    else:
        scale = 1.0
        try:
            image = Image.open(path)  # reads the header only; PIL itself refuses decompression bombs
        except (Image.DecompressionBombError, OSError) as e:
            raise ReviewError(f"the image cannot be shown: {e}") from None
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise ReviewError(f"the image is {image.width} × {image.height} pixels, too large to show")
        image.load()
    box = (max(0, int((x0 - margin) * scale)), max(0, int((top - margin) * scale)),
           min(image.width, int((x1 + margin) * scale)), min(image.height, int((bottom + margin) * scale)))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ReviewError("the cell's box is outside its page")
    crop = image.crop(box)
    if crop.width * crop.height > MAX_RENDER_PIXELS:
        crop.thumbnail((int(crop.width * math.sqrt(MAX_RENDER_PIXELS / (crop.width * crop.height))),
                        int(crop.height * math.sqrt(MAX_RENDER_PIXELS / (crop.width * crop.height)))))
    crop = crop.convert("RGB")
    buf = io.BytesIO()
    crop.save(buf, format="PNG")
    return buf.getvalue()


def check_json(rule: str, passed: bool, detail: Optional[str], cells: list, template: Optional[str]) -> dict:
    """A rule's verdict as the page's script receives it, with its statement in the tables' Chinese."""
    return {"rule": rule, "passed": passed, "detail": detail, "cells": cells,
            "statement": check_statement(detail, cells, template)}


# -- the app -----------------------------------------------------------------------------------
def create_app(config: ReviewConfig) -> Flask:
    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.json = StrictJSONProvider(app)
    allowed_hosts = config.allowed_hosts()
    app.config.update(SECRET_KEY=config.secret_key, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      MAX_CONTENT_LENGTH=1 << 20, TEMPLATES_AUTO_RELOAD=False)
    app.jinja_env.autoescape = True
    policy = load_accept_policy(threshold=config.accept_threshold)

    def store() -> Store:
        return open_store(config.db)

    def csrf_token() -> str:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        return session["csrf"]

    app.jinja_env.globals["csrf_token"] = csrf_token

    def request_port() -> Optional[int]:
        _, port = split_host(request.host)
        return port if port is not None else (443 if request.scheme == "https" else 80)

    def same_app_origin(origin: str) -> bool:
        """An Origin (or Referer) names this app: an allowed host on the port the request came to."""
        try:
            parts = urlsplit(origin)
            port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False
        return normal_host(parts.hostname or "") in allowed_hosts and port == request_port()

    @app.before_request
    def guard():
        # DNS rebinding: a hostile page's own name, pointed at 127.0.0.1, arrives as its Host. Only the
        # names this app is reached by are answered, before anything else (no data, no token).
        name, _ = split_host(request.headers.get("Host") or request.host)
        if name not in allowed_hosts:
            abort(400, "this host name is not served here (nianbao review --allow-host NAME adds one)")
        if config.token:
            given = request.args.get("token")
            if given is not None and request.method in ("GET", "HEAD") and hmac.compare_digest(given, config.token):
                session["authorised"] = True
                # The token travels in a URL once: the same page again, without it (history, Referer).
                rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
                return redirect(request.path + ("?" + urlencode(rest) if rest else ""), code=303)
            if not session.get("authorised"):
                abort(401)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            # Same app only (a browser sends Origin on cross-site POSTs), and the session's token.
            origin = request.headers.get("Origin") or request.headers.get("Referer")
            if origin and not same_app_origin(origin):
                abort(403, "cross-origin request refused")
            sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
            if not session.get("csrf") or not hmac.compare_digest(sent, session["csrf"]):
                abort(403, "missing or wrong CSRF token")

    @app.after_request
    def headers(response):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" makes form posts send Origin: null
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(ReviewError)
    def review_error(e: ReviewError):
        if request.path.startswith("/api/"):
            # 409: another reviewer changed the value this edit was based on (nothing was saved)
            return jsonify(error=str(e), stale=isinstance(e, corrections.StaleEdit)), \
                (409 if isinstance(e, corrections.StaleEdit) else 400)
        return render_template("error.html", message=str(e)), 400

    def filters_from_request() -> QueueFilters:
        a = request.args
        try:
            return QueueFilters(agency=a.get("agency") or None, year=int(a["year"]) if a.get("year") else None,
                                rule=a.get("rule") or None,
                                max_confidence=float(a["max_confidence"]) if a.get("max_confidence") else None,
                                status=a.get("status") or "open")
        except ValueError as e:
            raise ReviewError(f"bad filter: {e}") from None

    @app.get("/")
    def queue_page():
        filters = filters_from_request()
        with store() as s:
            items = review_queue(s, filters, policy)
        return render_template("queue.html", items=items, filters=filters, policy=policy, reviewer=config.reviewer,
                               approved=request.args.get("approved"))

    @app.get("/doc/<int:doc_id>")
    def document_page(doc_id: int):
        with store() as s:
            doc = corrections.get_document(s, doc_id)
            items = review_queue(s, QueueFilters(), policy)
            held = {c.document_id for c in s.claims() if c.reviewer != config.reviewer}  # other reviewers'
            findings = document_findings(doc, s.check_reviews(doc_id))
        grids = build_grids(doc, policy)
        following = next((it.id for it in items if it.id != doc_id and it.id not in held), None)
        return render_template("document.html", doc=doc, grids=grids, policy=policy, reviewer=config.reviewer,
                               next_id=following, failing=[c for c in doc.record.checks if not c.passed],
                               findings=findings, name=Path(doc.row["path"]).name)

    @app.post("/doc/<int:doc_id>/finding")
    def review_finding(doc_id: int):
        """A verdict on one finding of the document: confirmed (the report's own error) or dismissed
        (a misreading, fixed, or no error), by this reviewer, now. The finding is named by its key and
        must be one the document fails now."""
        key, status = request.form.get("finding", ""), request.form.get("status", "")
        note = (request.form.get("note") or "").strip() or None
        if status not in FINDING_STATUSES:
            raise ReviewError(f"a finding is {' or '.join(FINDING_STATUSES)}, not {status!r}")
        if note is not None and len(note) > NOTE_MAX:
            raise ReviewError(f"the note has {len(note)} characters; at most {NOTE_MAX}")
        with store() as s:
            doc = corrections.get_document(s, doc_id)
            finding = next((f for f in document_findings(doc, []) if f.key == key), None)
            if finding is None:
                raise ReviewError(f"document {doc_id} has no failing finding {key!r} (re-run since? reload the page)")
            try:
                s.review_check(CheckReview(document_id=doc_id, rule=finding.rule, status=status,
                                           reviewer=config.reviewer, note=note, finding=key))
            except StoreError as e:
                raise ReviewError(str(e)) from e
        return redirect(url_for("document_page", doc_id=doc_id) + "#findings", code=303)

    @app.get("/api/doc/<int:doc_id>/cell/<key>")
    def cell_info(doc_id: int, key: str):
        with store() as s:
            # With the contexts the ingest worker stored (nothing is re-read or re-extracted here; a
            # document stored without contexts shows none).
            doc = corrections.get_document(s, doc_id)
            changes = [h for h in corrections.history(s, doc_id) if h["key"] == key]
        f = doc.record.fields.get(key)
        if f is None:
            raise ReviewError(f"no field {key!r}")
        context = f.context
        template = doc.record.template
        info = {"key": key, "label": field_label(key, template), "value": json_number(f.value), "raw": f.raw,
                "confidence": f.confidence, "alternatives": f.alternatives or [],
                "reason": label_keys_in_text(f.reason, template), "page": f.page,
                "image": None, "source": None, "history": changes}
        path = Path(path_from_display(doc.row["path"]))  # stored escaped when not UTF-8
        if f.bbox and f.page and (path.suffix.lower() == ".pdf" or path.suffix.lower() in IMAGE_SUFFIXES):
            info["image"] = url_for("cell_png", doc_id=doc_id, key=key)
        elif context is not None:
            info["source"] = {"before": context.before, "value": context.value, "after": context.after}
        return jsonify(info)

    @app.get("/doc/<int:doc_id>/cell/<key>.png")
    def cell_png(doc_id: int, key: str):
        with store() as s:
            doc = corrections.get_document(s, doc_id)
        f = doc.record.fields.get(key)
        if f is None or not f.bbox or not f.page:
            abort(404)
        path = Path(path_from_display(doc.row["path"]))  # from the store, never from the request
        if not path.exists():
            abort(404)
        png = cell_image(path, int(f.page), f.bbox)
        return app.response_class(png, mimetype="image/png")

    @app.post("/api/doc/<int:doc_id>/field")
    def change_field(doc_id: int):
        body = strict_json_body(request.get_data(cache=False))
        key, action = str(body.get("key", "")), str(body.get("action", ""))
        text = body.get("value")
        with store() as s:
            doc = corrections.change_field(s, doc_id, key, action, config.reviewer,
                                           None if text is None else str(text),
                                           based_on=corrections.shown_value(body["based_on"], key)
                                           if "based_on" in body else corrections.BASED_ON_CURRENT)
        return jsonify(state(doc))

    @app.post("/api/doc/<int:doc_id>/check")
    def check_values(doc_id: int):
        """Re-run the rules on values being typed (nothing is written)."""
        body = strict_json_body(request.get_data(cache=False))
        with store() as s:
            doc = corrections.get_document(s, doc_id)
        values = doc.values
        typed = body.get("values") or {}
        if not isinstance(typed, dict):
            raise ReviewError("values must be an object of field key -> text")
        for key, text in typed.items():
            if key not in values:
                raise ReviewError(f"no field {key!r}")
            values[key] = None if text in (None, "") else corrections.parse_value(str(text), key)
        template = doc.record.template
        checks = corrections.recheck(values, template, doc.found)
        return jsonify(checks=[check_json(c.rule, c.passed, c.detail, c.cells, template) for c in checks])

    @app.post("/api/doc/<int:doc_id>/table/<table>/confirm")
    def confirm_table(doc_id: int, table: str):
        with store() as s:
            doc = corrections.confirm_table(s, doc_id, table, config.reviewer)
        return jsonify(state(doc))

    @app.post("/doc/<int:doc_id>/approve")
    def approve(doc_id: int):
        with store() as s:
            label = corrections.approve(s, doc_id, config.reviewer, config.labels_dir)
            # The next document no other reviewer holds (claimed for this reviewer).
            following = next_document(s, config.reviewer, QueueFilters(), policy) \
                if request.form.get("then") == "next" else None
        if following is not None:
            return redirect(url_for("document_page", doc_id=following, approved=label.name))
        return redirect(url_for("queue_page", approved=label.name))

    @app.get("/next")
    def next_page():
        """Claim the most urgent document no other reviewer holds, and open it."""
        with store() as s:
            following = next_document(s, config.reviewer, filters_from_request(), policy)
        if following is None:
            return redirect(url_for("queue_page"))
        return redirect(url_for("document_page", doc_id=following))

    @app.post("/doc/<int:doc_id>/reopen")
    def reopen(doc_id: int):
        with store() as s:
            corrections.reopen(s, doc_id, config.reviewer)
        return redirect(url_for("document_page", doc_id=doc_id))

    @app.get("/doc/<int:doc_id>/history")
    def history(doc_id: int):
        with store() as s:
            corrections.get_document(s, doc_id)
            rows = corrections.history(s, doc_id)
        return jsonify(history=rows)

    def state(doc: corrections.StoredDocument) -> dict:
        return {"fields": {k: {"value": json_number(f.value), "confidence": f.confidence,
                               "reviewed": f.reason == REVIEWED} for k, f in doc.record.fields.items()},
                "checks": [check_json(c.rule, c.passed, c.detail, c.cells, doc.record.template)
                           for c in doc.record.checks],
                "review_status": doc.row["review_status"]}

    # The tables' Chinese in what the page prints: official headers for field keys in reasons and rule
    # statements (ingest.report_labels, shared with the audit report).
    app.jinja_env.filters["zh_text"] = lambda text, template=None: label_keys_in_text(text, template)
    app.jinja_env.filters["zh_check"] = lambda detail, cells, template=None: check_statement(detail, cells, template)
    return app


def serve(config: ReviewConfig, host: str = "127.0.0.1", port: int = 8765) -> None:
    check_bind(host, config.token)
    from dataclasses import replace

    from werkzeug.serving import make_server

    config = replace(config, host=host)
    server = make_server(host, port, create_app(config), threaded=True, request_handler=request_handler(config.token))
    url = f"http://{host}:{server.server_port}/" + (f"?token={config.token}" if config.token else "")
    print(f"nianbao review: {url}  (Ctrl-C stops)", flush=True)
    print(f"answering Host names: {', '.join(sorted(config.allowed_hosts()))} (more with --allow-host)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
