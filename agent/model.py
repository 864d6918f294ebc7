"""The one long-lived google-genai client, and the call the step loop makes through it.

With no key in development the client talks to the bundled emulator in-process (an ASGI
transport, no port); otherwise to GEMINI_BASE_URL or Google's endpoint. Either way it is the
same SDK call path. Upstream failures are mapped to ModelError with the HTTP status the API
should answer (502 bad upstream answer, 503 upstream unavailable or limited, 504 timeout).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx2
from google import genai
from google.genai import errors, types

from agent import metrics
from agent.settings import Settings

log = logging.getLogger(__name__)

EMULATOR_BASE_URL = "http://emulator.invalid"


class ModelError(Exception):
    def __init__(self, status: int, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status in (503, 504)


class Model:
    """A google-genai async client bound to one model name and our retry/timeout policy."""

    def __init__(self, settings: Settings, client: genai.Client | None = None) -> None:
        self.settings = settings
        self.name = settings.gemini_model
        self.emulated = settings.uses_emulator
        self._own_http: httpx2.AsyncClient | None = None
        self.client = client or self._create_client()

    @property
    def label(self) -> str:
        """The model field of responses: says when the emulator answered."""
        return f"{self.name} (emulator)" if self.emulated else self.name

    def _create_client(self) -> genai.Client:
        s = self.settings
        options = types.HttpOptions(
            api_version=s.gemini_api_version,
            timeout=s.gemini_timeout_ms,
            retry_options=types.HttpRetryOptions(
                attempts=s.gemini_retry_attempts,
                initial_delay=s.gemini_retry_initial_delay,
                max_delay=s.gemini_retry_max_delay,
                http_status_codes=[408, 429, 500, 502, 503, 504],
            ),
            headers={"x-request-source": "gemini-agent"},
        )
        key = "emulator"
        if s.uses_emulator:
            from agent.emulator import create_app

            self._own_http = httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=create_app()), base_url=EMULATOR_BASE_URL
            )
            options.base_url = EMULATOR_BASE_URL
            options.httpx_async_client = self._own_http
        else:
            if s.gemini_base_url:
                options.base_url = s.gemini_base_url
            if s.gemini_api_key is not None:
                key = s.gemini_api_key.get_secret_value()
        return genai.Client(api_key=key, http_options=options)

    async def aclose(self) -> None:
        await self.client.aio.aclose()
        if self._own_http is not None:
            await self._own_http.aclose()

    async def generate(
        self,
        contents: list[types.Content],
        *,
        system_prompt: str,
        tools: list[types.FunctionDeclaration],
    ) -> types.GenerateContentResponse:
        config = types.GenerateContentConfig(
            system_instruction=system_prompt,
            tools=[types.Tool(function_declarations=tools)] if tools else None,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        started = time.perf_counter()
        outcome = "ok"
        try:
            response = await self.client.aio.models.generate_content(
                model=self.name, contents=contents, config=config
            )
        except errors.APIError as exc:
            outcome = f"http_{exc.code}"
            raise _from_api_error(exc) from exc
        except (httpx2.TimeoutException, TimeoutError) as exc:
            outcome = "timeout"
            raise ModelError(504, "the model did not answer in time") from exc
        except (httpx2.TransportError, OSError) as exc:
            outcome = "unreachable"
            raise ModelError(503, f"the model endpoint is unreachable: {exc}", 5) from exc
        except (json.JSONDecodeError, ValueError) as exc:
            outcome = "malformed"
            raise ModelError(502, "the model sent a malformed answer") from exc
        finally:
            metrics.MODEL_LATENCY.labels(model=self.name, outcome=outcome).observe(
                time.perf_counter() - started
            )
        usage = response.usage_metadata
        if usage is not None:
            metrics.MODEL_TOKENS.labels(kind="prompt").inc(usage.prompt_token_count or 0)
            metrics.MODEL_TOKENS.labels(kind="output").inc(usage.candidates_token_count or 0)
        return response


def _from_api_error(exc: errors.APIError) -> ModelError:
    code = exc.code
    if code == 429:
        return ModelError(503, "the model is rate limited upstream; retry later", 10)
    if code in (500, 502, 503):
        return ModelError(503, f"the model is unavailable upstream (HTTP {code})", 5)
    if code == 504:
        return ModelError(504, "the model timed out upstream")
    if code in (401, 403):
        return ModelError(502, "the model rejected this service's credentials")
    return ModelError(502, f"the model rejected the request (HTTP {code}): {exc.message}")


def usage_tokens(response: Any) -> int:
    usage = getattr(response, "usage_metadata", None)
    return int(getattr(usage, "total_token_count", 0) or 0) if usage is not None else 0
