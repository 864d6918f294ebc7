"""An offline stand-in for the Gemini REST API, scripted by the prompt.

It serves what google-genai calls on the Gemini Developer API (generateContent,
streamGenerateContent with SSE, countTokens, embedContent, batchEmbedContents) for v1 and
v1beta, so the service, its tests and a local stack run with no network and no key.

Replies are deterministic and driven by the newest user turn that has text:
- directives: `[[call NAME {json}]]` (repeatable, one call per step), `[[force_call NAME {json}]]`
  (called even if not declared), `[[parallel]]`, `[[delay SECONDS]]`, `[[fault STATUS xN]]`,
  `[[malformed]]`, `[[stream_error]]`;
- otherwise natural prompts mapped onto the built-in tools (arithmetic -> calculator,
  "what time" -> current_time, "remember ..." -> remember, "recall ..." -> recall), each only
  when the request declares that tool; then a final answer quoting every tool result.
Admin routes under /_emulator/ inject faults and report request counts for chaos tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

VERSIONS = frozenset({"v1", "v1beta"})
MAX_DELAY_SECONDS = 30.0
EMBEDDING_DIMENSIONS = 768
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
GENERATION_ACTIONS = frozenset({"generateContent", "streamGenerateContent"})
MODEL_ACTIONS = GENERATION_ACTIONS | {"countTokens", "embedContent", "batchEmbedContents"}


class GoogleError(Exception):
    """An error answered with Google's JSON error body."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_body(code: int, message: str) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}
    }


def dump(value: Any) -> bytes:
    # ASCII escapes keep lone surrogates and U+2028 from breaking the body or an SSE line.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dump(value), status_code=status, media_type="application/json")


def error_response(code: int, message: str) -> Response:
    return json_response(error_body(code, message), code)


# --- request normalisation -------------------------------------------------------------------

# Caller data (tool arguments, tool results, JSON schemas) keeps its keys exactly as sent.
_OPAQUE_KEYS = frozenset(
    {
        "args",
        "response",
        "parameters",
        "parameters_json_schema",
        "response_schema",
        "response_json_schema",
        "labels",
    }
)
_UPPER = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(key: str) -> str:
    return _UPPER.sub(r"_\1", key).lower()


def normalise(value: Any) -> Any:
    """camelCase -> snake_case at every level, so both spellings the API accepts read alike."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = snake_case(key)
            out[name] = item if name in _OPAQUE_KEYS else normalise(item)
        return out
    if isinstance(value, list):
        return [normalise(item) for item in value]
    return value


_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,127}")


@dataclass
class Conversation:
    """A validated, normalised generateContent request."""

    model: str
    contents: list[dict[str, Any]]
    system_text: str
    declared: frozenset[str]


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise GoogleError(400, f"Invalid value at '{where}': expected a list.")
    return value


def read_contents(raw: Any, where: str = "contents") -> list[dict[str, Any]]:
    contents = _as_list(raw, where)
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise GoogleError(400, f"Invalid value at '{where}[{i}]': expected an object.")
        role = content.get("role") or "user"
        if role not in ("user", "model", "function", "tool"):
            raise GoogleError(400, f"Please use a valid role: user, model. Got '{role}'.")
        parts = _as_list(content.get("parts"), f"{where}[{i}].parts")
        if not parts:
            raise GoogleError(400, f"{where}[{i}].parts must not be empty.")
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                raise GoogleError(400, f"Invalid value at '{where}[{i}].parts[{j}]'.")
            call = part.get("function_call")
            if call is not None and not (
                isinstance(call, dict)
                and isinstance(call.get("name"), str)
                and isinstance(call.get("args", {}), dict | None)
            ):
                raise GoogleError(400, f"Invalid function_call at '{where}[{i}].parts[{j}]'.")
            reply = part.get("function_response")
            if reply is not None and not (
                isinstance(reply, dict)
                and isinstance(reply.get("name"), str)
                and isinstance(reply.get("response", {}), dict | None)
            ):
                raise GoogleError(400, f"Invalid function_response at '{where}[{i}].parts[{j}]'.")
            text = part.get("text")
            if text is not None and not isinstance(text, str):
                raise GoogleError(400, f"Invalid text at '{where}[{i}].parts[{j}]'.")
    return contents


def _calls_of(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [p["function_call"] for p in content["parts"] if p.get("function_call") is not None]


def _replies_of(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        p["function_response"] for p in content["parts"] if p.get("function_response") is not None
    ]


def check_tool_turns(contents: list[dict[str, Any]], model: str) -> None:
    """Holds the history to the rules the live API enforces on function calling."""
    known_ids: set[str] = set()
    for i, content in enumerate(contents):
        calls = _calls_of(content)
        for call in calls:
            if isinstance(call.get("id"), str):
                known_ids.add(call["id"])
        # Gemini 3 rejects a replayed call turn whose signature was dropped.
        if calls and model.startswith("gemini-3"):
            first = next(p for p in content["parts"] if p.get("function_call") is not None)
            if not first.get("thought_signature"):
                raise GoogleError(
                    400,
                    "Function call is missing a thought_signature in functionCall parts. "
                    f"Offending content: contents[{i}].",
                )
        replies = _replies_of(content)
        if not replies:
            continue
        previous = _calls_of(contents[i - 1]) if i > 0 else []
        if len(replies) != len(previous):
            raise GoogleError(
                400,
                "Please ensure that the number of function response parts is equal to the "
                "number of function call parts of the function call turn "
                f"(contents[{i}] has {len(replies)}, the call turn has {len(previous)}).",
            )
        for reply in replies:
            reply_id = reply.get("id")
            if reply_id and reply_id not in known_ids:
                raise GoogleError(
                    400, f"function_response.id '{reply_id}' does not match any function call."
                )


def read_conversation(body: dict[str, Any], model: str) -> Conversation:
    contents = read_contents(body.get("contents"))
    if not contents:
        raise GoogleError(400, "* GenerateContentRequest.contents: contents is not specified")
    check_tool_turns(contents, model)
    system = body.get("system_instruction")
    system_text = ""
    if isinstance(system, dict):
        system_text = " ".join(_texts(read_contents([system], "system_instruction")[0]))
    elif isinstance(system, str):
        system_text = system
    declared: set[str] = set()
    for i, tool in enumerate(_as_list(body.get("tools"), "tools")):
        if not isinstance(tool, dict):
            raise GoogleError(400, f"Invalid value at 'tools[{i}]'.")
        decls = _as_list(tool.get("function_declarations"), f"tools[{i}].function_declarations")
        for j, decl in enumerate(decls):
            name = decl.get("name") if isinstance(decl, dict) else None
            if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
                raise GoogleError(
                    400, f"Invalid function name at 'tools[{i}].function_declarations[{j}]'."
                )
            declared.add(name)
    calling = (body.get("tool_config") or {}).get("function_calling_config") or {}
    if isinstance(calling, dict):
        if str(calling.get("mode", "")).upper() == "NONE":
            declared.clear()
        allowed = calling.get("allowed_function_names")
        if isinstance(allowed, list) and allowed:
            declared &= {a for a in allowed if isinstance(a, str)}
    return Conversation(model, contents, system_text, frozenset(declared))


def _texts(content: dict[str, Any]) -> list[str]:
    return [
        p["text"]
        for p in content["parts"]
        if isinstance(p.get("text"), str) and not p.get("thought")
    ]


# --- the script --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any]
    forced: bool = False


@dataclass
class Directives:
    calls: list[Call] = field(default_factory=list)
    parallel: bool = False
    delay: float = 0.0
    fault: tuple[int, int] | None = None
    malformed: bool = False
    stream_error: int | None = None


_DIRECTIVE_HEAD = re.compile(r"\[\[\s*([A-Za-z_]+)")
_CALL_NAME = re.compile(r"\s+([A-Za-z_][A-Za-z0-9_.:\-]*)\s*")
_CLOSE = re.compile(r"\s*\]\]")
_PLAIN_ARGUMENT = re.compile(r"([^\]]*)\]\]")
_FAULT = re.compile(r"(\d{3})(?:\s*x\s*(\d+))?", re.IGNORECASE)
_KINDS = frozenset(
    {"call", "force_call", "parallel", "delay", "fault", "malformed", "stream_error"}
)


def parse_directives(text: str) -> Directives:
    """Reads `[[...]]` directives; unknown `[[words]]` are plain text, a broken one is a 400."""
    found = Directives()
    decoder = json.JSONDecoder()
    pos = 0
    while match := _DIRECTIVE_HEAD.search(text, pos):
        kind = match.group(1).lower()
        pos = match.end()
        if kind not in _KINDS:
            continue
        if kind in ("call", "force_call"):
            named = _CALL_NAME.match(text, pos)
            if named is None:
                raise GoogleError(400, f"Emulator directive [[{kind}]] needs a function name.")
            pos = named.end()
            args: Any = {}
            if text.startswith("{", pos):
                try:
                    args, pos = decoder.raw_decode(text, pos)
                except json.JSONDecodeError as exc:
                    raise GoogleError(
                        400, f"Emulator directive [[{kind}]] has invalid JSON arguments: {exc}"
                    ) from None
            closed = _CLOSE.match(text, pos)
            if closed is None or not isinstance(args, dict):
                raise GoogleError(
                    400, f"Emulator directive [[{kind} NAME {{json object}}]] is malformed."
                )
            pos = closed.end()
            found.calls.append(Call(named.group(1), args, forced=kind == "force_call"))
            continue
        plain = _PLAIN_ARGUMENT.match(text, pos)
        if plain is None:
            raise GoogleError(400, f"Emulator directive [[{kind}]] is not closed with ]].")
        pos = plain.end()
        argument = plain.group(1).strip()
        if kind == "parallel":
            found.parallel = True
        elif kind == "malformed":
            found.malformed = True
        elif kind == "delay":
            try:
                seconds = float(argument)
            except ValueError:
                raise GoogleError(
                    400, "Emulator directive [[delay SECONDS]] needs a number."
                ) from None
            if not math.isfinite(seconds):
                raise GoogleError(400, "Emulator directive [[delay SECONDS]] needs a number.")
            found.delay = min(max(seconds, 0.0), MAX_DELAY_SECONDS)
        elif kind == "fault":
            spec = _FAULT.fullmatch(argument)
            if spec is None or not 400 <= int(spec.group(1)) <= 599:
                raise GoogleError(400, "Emulator directive is [[fault STATUS xN]], STATUS 400-599.")
            found.fault = (int(spec.group(1)), int(spec.group(2) or 1))
        elif kind == "stream_error":
            status = int(argument) if argument.isdigit() else 500
            found.stream_error = status if 400 <= status <= 599 else 500
    return found


_EXPRESSION_RUN = re.compile(r"[0-9+\-*/%().\s]+")
_OPERATOR_BETWEEN = re.compile(r"[\d)]\s*(?:\*\*|[-+*/%])\s*[-+]?\s*[\d(.]")
_ZONE = re.compile(r"\b([A-Z][A-Za-z_]+(?:/[A-Za-z][A-Za-z0-9_+\-]*)+)")
_TIME = re.compile(r"\bwhat\s+time\b|\btime\s+(?:is\s+it\s+)?in\b|\bcurrent\s+time\b", re.I)
_RECALL = re.compile(
    r"\b(?:recall|what\s+do\s+you\s+remember\s+about)\s+(?:about\s+)?([^\n?!]+)", re.I
)
_REMEMBER = re.compile(r"(?<!you )\bremember\s+(?:that\s+)?([^\n]+)", re.I)
_NAME_QUESTION = re.compile(r"\bwhat(?:'s|\s+is)\s+my\s+name\b", re.I)
_NAME_STATEMENT = re.compile(r"\bmy\s+name\s+is\s+([^.,!?;\n]+?)(?=\s+and\b|[.,!?;\n]|$)", re.I)


def arithmetic_expressions(text: str) -> list[str]:
    found = []
    for run in _EXPRESSION_RUN.findall(text):
        expression = run.strip().rstrip(".").strip()
        # A parenthesis that belongs to the surrounding sentence is dropped; balanced ones stay.
        while expression.count("(") > expression.count(")") and expression.startswith("("):
            expression = expression[1:].strip()
        while expression.count(")") > expression.count("(") and expression.endswith(")"):
            expression = expression[:-1].strip()
        if _OPERATOR_BETWEEN.search(expression):
            found.append(expression)
    return found[:8]


def _clause(text: str) -> str:
    return text.strip().rstrip(".!?").strip()


def natural_calls(text: str, declared: frozenset[str]) -> list[Call]:
    calls: list[Call] = []
    if "calculator" in declared:
        calls += [Call("calculator", {"expression": e}) for e in arithmetic_expressions(text)]
    if "current_time" in declared and _TIME.search(text):
        zone = _ZONE.search(text)
        calls.append(Call("current_time", {"timezone": zone.group(1) if zone else "UTC"}))
    recall = _RECALL.search(text)
    if "recall" in declared and recall and _clause(recall.group(1)):
        calls.append(Call("recall", {"query": _clause(recall.group(1))}))
    remember = _REMEMBER.search(text)
    if "remember" in declared and remember and not recall and _clause(remember.group(1)):
        calls.append(Call("remember", {"text": _clause(remember.group(1))}))
    return calls


_ENVELOPE_KEYS = frozenset({"output", "truncated"})


def _result_value(response: Any) -> tuple[bool, Any]:
    """(failed, value) of a tool result, unwrapping the usual {"output": ...} envelopes."""
    value = response
    for _ in range(4):
        if isinstance(value, dict) and value.get("error") not in (None, "", False):
            return True, value["error"]
        if isinstance(value, dict) and "output" in value and set(value) <= _ENVELOPE_KEYS:
            value = value["output"]
            continue
        break
    return False, value


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def summarise(results: list[tuple[str, Any]], refused: list[str]) -> str:
    sentences = [f"The tool {name} is not declared, so it was not called." for name in refused]
    for name, response in results:
        failed, value = _result_value(response)
        if failed:
            sentences.append(f"The tool {name} failed: {_render(value)}.")
        elif name == "calculator":
            if isinstance(value, dict) and "result" in value:
                value = value["result"]
            sentences.append(f"The answer is {_render(value)}.")
        else:
            sentences.append(f"The tool {name} returned {_render(value)}.")
    return " ".join(sentences) or "There is nothing to report."


@dataclass
class Reply:
    calls: list[Call]
    text: str
    directives: Directives


def plan_reply(conversation: Conversation) -> Reply:
    contents = conversation.contents
    anchor = -1
    for i in range(len(contents) - 1, -1, -1):
        if (contents[i].get("role") or "user") == "user" and any(
            t.strip() for t in _texts(contents[i])
        ):
            anchor = i
            break
    text = "\n".join(_texts(contents[anchor])) if anchor >= 0 else ""
    directives = parse_directives(text)
    later = contents[anchor + 1 :]
    step = sum(1 for c in later if _replies_of(c))
    results = [(r["name"], r.get("response") or {}) for c in later for r in _replies_of(c)]

    refused: list[str] = []
    if directives.calls:
        usable = []
        for call in directives.calls:
            if call.forced or call.name in conversation.declared:
                usable.append(call)
            else:
                refused.append(call.name)
        plan = [usable] if directives.parallel and usable else [[c] for c in usable]
    else:
        found = natural_calls(text, conversation.declared) if step == 0 else []
        plan = [found] if found else []
    if step < len(plan):
        return Reply(plan[step], "", directives)
    if results or refused:
        return Reply([], summarise(results, refused), directives)
    return Reply([], plain_answer(contents, anchor, text), directives)


def plain_answer(contents: list[dict[str, Any]], anchor: int, text: str) -> str:
    if _NAME_QUESTION.search(text):
        name = None
        for content in contents[:anchor]:
            if (content.get("role") or "user") == "user":
                for said in _texts(content):
                    for match in _NAME_STATEMENT.finditer(said):
                        name = match.group(1).strip()
        if name:
            return f"Your name is {name}."
        return "You have not told me your name."
    if not text.strip():
        return "Emulated reply."
    return f"Emulated reply to: {text.strip()[:200]}"


# --- responses --------------------------------------------------------------------------------


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def prompt_tokens(contents: list[dict[str, Any]], system_text: str = "") -> int:
    pieces = [system_text]
    for content in contents:
        for part in content.get("parts") or []:
            if isinstance(part.get("text"), str):
                pieces.append(part["text"])
            for key in ("function_call", "function_response"):
                if part.get(key) is not None:
                    pieces.append(json.dumps(part[key], sort_keys=True))
    return count_tokens(" ".join(p for p in pieces if p))


def _digest(*pieces: Any) -> bytes:
    return hashlib.sha256(json.dumps(pieces, sort_keys=True, default=str).encode()).digest()


def call_parts(reply: Reply, conversation: Conversation, seed: int) -> list[dict[str, Any]]:
    # Ids continue the numbering of calls already in the history, so they never repeat.
    earlier = sum(len(_calls_of(c)) for c in conversation.contents)
    parts = []
    for k, call in enumerate(reply.calls, start=earlier + 1):
        call_id = f"call-{k}"
        signature = base64.b64encode(_digest(seed, call_id, call.name, call.args)[:24]).decode()
        parts.append(
            {
                "functionCall": {"id": call_id, "name": call.name, "args": call.args},
                "thoughtSignature": signature,
            }
        )
    return parts


def candidate_body(
    parts: list[dict[str, Any]],
    model: str,
    response_id: str,
    usage: dict[str, int] | None,
    finished: bool,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finished:
        candidate["finishReason"] = "STOP"
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        body["usageMetadata"] = usage
    body["modelVersion"] = model
    body["responseId"] = response_id
    return body


def usage_of(prompt: int, answer: int) -> dict[str, int]:
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": answer,
        "totalTokenCount": prompt + answer,
    }


def text_chunks(text: str, pieces: int = 4) -> list[str]:
    """Splits on word boundaries into up to `pieces` chunks whose concatenation is `text`."""
    words = re.findall(r"\s*\S+\s*", text) or [text]
    size = max(1, math.ceil(len(words) / pieces))
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def embedding(text: str, dimensions: int) -> list[float]:
    """A bag-of-words hash: texts sharing words point the same way (enough for recall tests)."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        index = int.from_bytes(digest[:4], "big") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    return [round(v / norm, 6) for v in vector]


# --- the app ----------------------------------------------------------------------------------


@dataclass
class Faults:
    """Admin-injected faults: the next `count` generation requests sleep `delay`, then fail."""

    status: int | None = None
    count: int = 0
    delay: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "count": self.count, "delay": self.delay}


@dataclass
class EmulatorState:
    api_key: str | None
    seed: int
    faults: Faults = field(default_factory=Faults)
    body_faults: Counter[str] = field(default_factory=Counter)
    stats: Counter[tuple[str, int]] = field(default_factory=Counter)

    def stats_json(self) -> dict[str, Any]:
        routes: dict[str, dict[str, int]] = {}
        for (route, status), n in sorted(self.stats.items()):
            routes.setdefault(route, {})[str(status)] = n
        return {"requests": routes, "total": sum(self.stats.values())}


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _authorise(request: Request, state: EmulatorState) -> None:
    if state.api_key is None:
        return
    given = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if not given:
        raise GoogleError(401, "Request is missing a valid API key (x-goog-api-key).")
    if given != state.api_key:
        raise GoogleError(403, "API key not valid. Please pass a valid API key.")


async def _read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GoogleError(400, f"Invalid JSON payload received. {exc}") from None
    if not isinstance(body, dict):
        raise GoogleError(400, "Invalid JSON payload received. Expected an object.")
    normalised: dict[str, Any] = normalise(body)
    return normalised


async def model_route(request: Request) -> Response:
    state = _state(request)
    version = request.path_params["version"]
    model, _, action = request.path_params["model_action"].partition(":")
    route = action if action in MODEL_ACTIONS else "other"
    try:
        response = await _model_request(request, state, version, model, action)
    except GoogleError as exc:
        response = error_response(exc.code, exc.message)
    state.stats[(route, response.status_code)] += 1
    return response


async def _model_request(
    request: Request, state: EmulatorState, version: str, model: str, action: str
) -> Response:
    if version not in VERSIONS:
        raise GoogleError(404, f"Unknown API version '{version}'; use v1 or v1beta.")
    if request.method == "GET" and not action:
        _authorise(request, state)
        return json_response(model_info(model))
    if request.method != "POST" or action not in MODEL_ACTIONS:
        raise GoogleError(404, f"models/{model}:{action} is not found for API version {version}.")
    _authorise(request, state)
    body = await _read_json(request)
    if action == "countTokens":
        inner = body.get("generate_content_request")
        source = inner if isinstance(inner, dict) else body
        contents = read_contents(source.get("contents"))
        system = source.get("system_instruction")
        system_text = ""
        if isinstance(system, dict):
            system_text = " ".join(_texts(read_contents([system], "system_instruction")[0]))
        return json_response({"totalTokens": prompt_tokens(contents, system_text)})
    if action in ("embedContent", "batchEmbedContents"):
        return json_response(embed(action, body))

    conversation = read_conversation(body, model)
    reply = plan_reply(conversation)
    await _apply_faults(state, action, model, body, reply.directives)
    if reply.directives.delay:
        await asyncio.sleep(reply.directives.delay)

    stream = action == "streamGenerateContent"
    if reply.directives.malformed:
        if stream:
            return StreamingResponse(
                _sse([b"data: {not json at all\r\n\r\n"]), media_type="text/event-stream"
            )
        return Response(b"{this is not JSON", status_code=200, media_type="application/json")

    prompt = prompt_tokens(conversation.contents, conversation.system_text)
    response_id = "r-" + _digest(state.seed, model, body).hex()[:16]
    if reply.calls:
        parts = call_parts(reply, conversation, state.seed)
        answer = count_tokens(json.dumps([p["functionCall"] for p in parts]))
        bodies = [candidate_body(parts, model, response_id, usage_of(prompt, answer), True)]
    else:
        answer = count_tokens(reply.text)
        if stream:
            chunks = text_chunks(reply.text)
            bodies = [
                candidate_body(
                    [{"text": chunk}],
                    model,
                    response_id,
                    usage_of(prompt, answer) if last else None,
                    last,
                )
                for last, chunk in ((i == len(chunks) - 1, c) for i, c in enumerate(chunks))
            ]
        else:
            bodies = [
                candidate_body(
                    [{"text": reply.text}], model, response_id, usage_of(prompt, answer), True
                )
            ]
    if not stream:
        return json_response(bodies[0])
    events = [b"data: " + dump(b) + b"\r\n\r\n" for b in bodies]
    if reply.directives.stream_error is not None:
        code = reply.directives.stream_error
        failure = error_body(code, "The stream was interrupted by an emulated error.")
        events = [*events[:1], b"data: " + dump(failure) + b"\r\n\r\n"]
    return StreamingResponse(_sse(events), media_type="text/event-stream")


async def _sse(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event
        await asyncio.sleep(0)  # one event per write, as a live stream arrives


async def _apply_faults(
    state: EmulatorState, action: str, model: str, body: dict[str, Any], directives: Directives
) -> None:
    faults = state.faults
    if faults.count > 0:
        faults.count -= 1
        status, delay = faults.status, faults.delay
        if faults.count == 0:
            state.faults = Faults()
        if delay:
            await asyncio.sleep(delay)
        if status:
            raise GoogleError(status, f"Emulated fault injected by the admin API ({status}).")
    if directives.fault is not None:
        status, times = directives.fault
        # Retries resend the same body, so counting per body lets the Nth retry succeed.
        key = _digest(action, model, body).hex()
        if state.body_faults[key] < times:
            state.body_faults[key] += 1
            raise GoogleError(status, f"Emulated fault {state.body_faults[key]} of {times}.")


def model_info(model: str) -> dict[str, Any]:
    return {
        "name": f"models/{model}",
        "displayName": f"{model} (emulated)",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    }


def embed(action: str, body: dict[str, Any]) -> dict[str, Any]:
    requests = body.get("requests") if action == "batchEmbedContents" else [body]
    vectors = []
    for i, item in enumerate(_as_list(requests, "requests")):
        if not isinstance(item, dict) or not isinstance(item.get("content"), dict):
            raise GoogleError(400, f"Invalid value at 'requests[{i}].content'.")
        content = read_contents([item["content"]], f"requests[{i}].content")[0]
        size = item.get("output_dimensionality") or EMBEDDING_DIMENSIONS
        if not isinstance(size, int) or not 1 <= size <= 3072:
            raise GoogleError(400, "output_dimensionality must be between 1 and 3072.")
        vectors.append({"values": embedding(" ".join(_texts(content)), size)})
    if action == "embedContent":
        return {"embedding": vectors[0]}
    return {"embeddings": vectors}


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok", "emulator": True})


async def faults_route(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.faults = Faults()
        state.body_faults.clear()
    elif request.method == "POST":
        try:
            body = json.loads(await request.body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error_response(400, "Invalid JSON payload received.")
        if not isinstance(body, dict):
            return error_response(400, "Expected {status, count, delay}.")
        status, count, delay = body.get("status"), body.get("count", 1), body.get("delay", 0)
        if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
            return error_response(400, "status must be an HTTP error status (400-599) or null.")
        if not isinstance(count, int) or not 0 <= count <= 1_000_000:
            return error_response(400, "count must be an integer from 0.")
        if not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY_SECONDS:
            return error_response(400, f"delay must be 0-{MAX_DELAY_SECONDS:g} seconds.")
        state.faults = Faults(status or None, count, float(delay))
    return json_response(state.faults.as_json())


async def stats_route(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.stats.clear()
    return json_response(state.stats_json())


async def _http_error(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    return error_response(code, f"{request.method} {request.url.path}: {STATUS_NAMES.get(code)}")


def create_app(*, api_key: str | None = None, seed: int = 0) -> Starlette:
    """The emulator as an ASGI app; `api_key` set means requests must carry it."""
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/_emulator/faults", faults_route, methods=["GET", "POST", "DELETE"]),
            Route("/_emulator/stats", stats_route, methods=["GET", "DELETE"]),
            Route("/{version}/models/{model_action}", model_route, methods=["GET", "POST"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.emulator = EmulatorState(api_key=api_key or None, seed=seed)
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    api_key: str | None = None,
    *,
    seed: int = 0,
    log_level: str = "info",
) -> None:
    """Runs the emulator with uvicorn; EMULATOR_API_KEY is used when no key is passed."""
    import uvicorn  # only the server process needs it

    key = api_key or os.environ.get("EMULATOR_API_KEY") or None
    uvicorn.run(create_app(api_key=key, seed=seed), host=host, port=port, log_level=log_level)
