"""Prometheus metrics for the agent side (model, tools, tasks); api/ adds HTTP metrics."""

from prometheus_client import Counter, Gauge, Histogram

MODEL_LATENCY = Histogram(
    "agent_model_request_seconds",
    "Latency of one model request (including SDK retries)",
    ["model", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
MODEL_TOKENS = Counter("agent_model_tokens_total", "Tokens reported by the model", ["kind"])
TOOL_CALLS = Counter("agent_tool_calls_total", "Tool calls by outcome", ["tool", "outcome"])
TOOL_LATENCY = Histogram("agent_tool_seconds", "Tool call latency", ["tool"])
TASKS = Counter("agent_tasks_total", "Tasks finished by a worker here, by status", ["status"])
QUEUE_DEPTH = Gauge("agent_task_queue_depth", "Queued tasks (sampled)")
CACHE = Counter("agent_response_cache_total", "Response cache lookups", ["result"])
