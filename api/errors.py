"""RFC 9457 problem+json for every error, and the OpenAPI entries that document them."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from agent.chat import SessionNotFound, UnknownTools
from agent.logs import request_id_var
from agent.model import ModelError
from agent.stores.base import IdempotencyConflict, StoreUnavailable

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field("about:blank", max_length=200)
    title: str = Field(max_length=200)
    status: int = Field(ge=400, le=599)
    detail: str | None = Field(None, max_length=4000)
    instance: str | None = Field(None, max_length=2000)
    request_id: str | None = Field(None, max_length=200)
    errors: list[dict[str, Any]] | None = Field(None, max_length=100)


class ProblemError(Exception):
    """Raise anywhere in a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.errors = errors


def problem_response(
    request: Request | None,
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body = Problem(
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail[:4000] if detail else None,
        instance=request.url.path[:2000] if request is not None else None,
        request_id=request_id_var.get(),
        errors=errors[:100] if errors else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_TYPE,
    )


_DESCRIPTIONS = {
    400: "The request body could not be read",
    401: "Missing or invalid API key",
    404: "No such resource for this API key",
    405: "Method not allowed",
    409: "Conflict with the current state (e.g. Idempotency-Key reused with another body)",
    413: "Request body too large",
    415: "Request body must be application/json",
    422: "The request is invalid",
    429: "Rate limit exceeded; retry after Retry-After seconds",
    502: "The model sent an unusable answer",
    503: "A dependency is unavailable; retry after Retry-After seconds",
    504: "The model did not answer in time",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
        "required": True,
    }
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": Problem, "description": _DESCRIPTIONS[code]}
        if code in (429, 503):
            entry["headers"] = _RETRY_AFTER
        out[code] = entry
    return out


def _allowed_methods(request: Request) -> list[str]:
    """The documented methods of the path (Starlette's 405 names only the first route's)."""
    app = request.app
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, ops in app.openapi().get("paths", {}).items():
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            table.append((re.compile(f"^{regex}$"), {m.upper() for m in ops}))
        app.state.allow_table = table
    methods: set[str] = set()
    for compiled, ops in table:
        if compiled.match(request.url.path):
            methods |= ops
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.detail, title=exc.title, headers=exc.headers, errors=exc.errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 400 and detail and "parsing the body" in detail:
            detail = "the request body is not valid JSON text"
        return problem_response(request, exc.status_code, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            errors.append(
                {
                    "loc": loc[:10],
                    "msg": str(err.get("msg", ""))[:300],
                    "type": str(err.get("type", ""))[:100],
                }
            )
        kinds = {e["type"] for e in errors}
        detail = (
            "the request body is not valid JSON"
            if "json_invalid" in kinds
            else "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        )
        return problem_response(request, 422, detail, errors=errors)

    @app.exception_handler(StoreUnavailable)
    async def _store(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("store unavailable: %s", exc)
        return problem_response(
            request, 503, "storage is unavailable; retry shortly", headers={"Retry-After": "5"}
        )

    @app.exception_handler(ModelError)
    async def _model(request: Request, exc: ModelError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after or 5)} if exc.status == 503 else None
        return problem_response(request, exc.status, exc.detail, headers=headers)

    @app.exception_handler(SessionNotFound)
    async def _session(request: Request, exc: SessionNotFound) -> JSONResponse:
        return problem_response(request, 404, "no such session")

    @app.exception_handler(UnknownTools)
    async def _tools(request: Request, exc: UnknownTools) -> JSONResponse:
        return problem_response(
            request,
            422,
            f"unknown or disabled tools: {', '.join(exc.names)}",
            errors=[
                {"loc": ["body", "tools"], "msg": f"unknown tool {n}", "type": "unknown_tool"}
                for n in exc.names
            ],
        )

    @app.exception_handler(IdempotencyConflict)
    async def _idem(request: Request, exc: IdempotencyConflict) -> JSONResponse:
        return problem_response(
            request, 409, "this Idempotency-Key was already used with a different request body"
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem_response(request, 500, "internal error; the request id identifies it")


def problem_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses carry application/problem+json, and 422 uses the Problem schema."""
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path in schema.get("paths", {}).values():
        for op in path.values():
            for code, response in op.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400:
                    content = response.get("content", {})
                    existing = (content.get("application/json") or {}).get("schema")
                    if not existing or "HTTPValidationError" in existing.get("$ref", ""):
                        existing = problem_ref
                    response["content"] = {PROBLEM_TYPE: {"schema": existing}}
                    if code == "422":
                        response["description"] = _DESCRIPTIONS[422]
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema
