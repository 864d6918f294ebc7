"""The OpenAPI document itself: what the fuzzer relies on being declared, checked directly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.app import create_app
from tests.core.conftest import settings_for

# Clients and the fuzzer's links name operations by these ids: renaming one is a breaking change.
OPERATION_IDS = {
    ("POST", "/api/v1/chat"): "chat",
    ("POST", "/api/v1/chat/stream"): "chatStream",
    ("GET", "/api/v1/sessions"): "listSessions",
    ("GET", "/api/v1/sessions/{session_id}"): "getSession",
    ("DELETE", "/api/v1/sessions/{session_id}"): "deleteSession",
    ("POST", "/api/v1/tasks"): "createTask",
    ("GET", "/api/v1/tasks/{task_id}"): "getTask",
    ("POST", "/api/v1/tasks/{task_id}/cancel"): "cancelTask",
    ("GET", "/api/v1/tasks/{task_id}/events"): "taskEvents",
    ("GET", "/api/v1/tools"): "listTools",
    ("GET", "/health"): "health",
    ("GET", "/ready"): "ready",
    ("GET", "/metrics"): "metrics",
}
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = create_app(settings_for(None, api_keys="alice:alice-key-0001"))
    return app.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            yield method.upper(), path, op


def test_operation_ids_are_stable(document: dict[str, Any]) -> None:
    found = {(m, p): op.get("operationId") for m, p, op in operations(document)}
    assert found == OPERATION_IDS


def test_every_error_status_a_route_can_answer_is_documented(document: dict[str, Any]) -> None:
    missing = []
    for method, path, op in operations(document):
        codes = set(op["responses"])
        # Anything may send an unreadable or oversized body.
        need = {"400", "413"}
        if op.get("security"):
            need |= {"401", "429"}
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            need |= {"404", "422"}
        if op.get("parameters"):
            need.add("422")
        if "requestBody" in op:
            need |= {"415", "422"}
        if path.startswith("/api/v1/") and path != "/api/v1/tools":
            need.add("503")  # every store-backed route
        if method == "POST" and path == "/api/v1/tasks":
            need.add("409")  # Idempotency-Key reused with another body
        if not need <= codes:
            missing.append((method, path, sorted(need - codes)))
    assert missing == []


def test_errors_are_problem_documents_and_throttles_say_when_to_retry(
    document: dict[str, Any],
) -> None:
    for method, path, op in operations(document):
        for code, response in op["responses"].items():
            if int(code) < 400:
                continue
            assert list(response["content"]) == [PROBLEM], (method, path, code)
            if code in ("429", "503"):
                header = response["headers"]["Retry-After"]
                assert header["required"] is True, (method, path, code)
                assert header["schema"]["type"] == "integer"


def test_links_drive_the_stateful_phase(document: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for _, _, op in operations(document)}
    task_links = by_id["createTask"]["responses"]["200"]["links"]
    assert {link["operationId"] for link in task_links.values()} == {
        "getTask",
        "cancelTask",
        "taskEvents",
    }
    chat_links = by_id["chat"]["responses"]["200"]["links"]
    assert {link["operationId"] for link in chat_links.values()} == {
        "getSession",
        "deleteSession",
    }
    for link in [*task_links.values(), *chat_links.values()]:
        target = by_id[link["operationId"]]
        names = {p["name"] for p in target["parameters"] if p["in"] == "path"}
        assert set(link["parameters"]) == names


def _unbounded(node: Any, where: str) -> Iterator[str]:
    if isinstance(node, dict):
        kind = node.get("type")
        bounded_string = any(k in node for k in ("maxLength", "enum", "const", "format"))
        if kind == "string" and not bounded_string:
            yield where
        if kind == "array" and "maxItems" not in node:
            yield where
        for key, value in node.items():
            yield from _unbounded(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _unbounded(value, f"{where}/{i}")


def test_every_string_and_array_has_a_bound(document: dict[str, Any]) -> None:
    assert list(_unbounded(document, "#")) == []


def test_timestamps_are_declared_as_date_time(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for model in ("TaskResponse", "SessionSummary", "SessionDetail", "TurnOut"):
        for field in ("created_at", "updated_at"):
            prop = schemas[model]["properties"].get(field)
            if prop is not None:
                assert prop == {"type": "string", "format": "date-time", "title": prop["title"]}


def test_integers_in_bodies_refuse_booleans() -> None:
    from pydantic import ValidationError

    from api.schemas import ChatRequest, TaskRequest

    for model, field in ((ChatRequest, "message"), (TaskRequest, "task")):
        for value in (True, "3", 3.5):
            with pytest.raises(ValidationError):
                model.model_validate({field: "hi", "max_steps": value})
        assert model.model_validate({field: "hi", "max_steps": 3}).max_steps == 3
