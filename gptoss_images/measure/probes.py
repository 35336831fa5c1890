"""The self-test's requests: every endpoint gpt-oss is served on, asked once, judged by its answer's shape.

Each probe returns a `checks.Result` (pass or fail, one line), as `--check` prints them.
The model's words are random (a synthetic checkpoint): a probe judges that vLLM
answered, in the API's own shape, not what it said.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

from gptoss_images.launcher.checks import Result

TIMEOUT_S = 300
MAX_TOKENS = 32
TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
"""A function tool with a description: vLLM's harmony path refuses one without (HTTP 400)."""
SCHEMA = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {
    "type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}}


class Server:
    """The server under test: its URL, the model name it answers to, the bearer token if any."""

    def __init__(self, url: str, model: str, key: str | None = None) -> None:
        self.url, self.model, self.key = url, model, key

    def _request(self, path: str, body: dict | None) -> urllib.request.Request:
        headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {self.key}"} if self.key else {})
        data = None if body is None else json.dumps({"model": self.model, **body}).encode()
        return urllib.request.Request(self.url + path, data, headers)

    def get(self, path: str) -> tuple[int, bytes]:
        with urllib.request.urlopen(self._request(path, None), timeout=TIMEOUT_S) as response:
            return response.status, response.read()

    def post(self, path: str, body: dict) -> dict:
        with urllib.request.urlopen(self._request(path, body), timeout=TIMEOUT_S) as response:
            return json.loads(response.read())

    def stream(self, path: str, body: dict) -> Iterator[dict]:
        """The events of a streamed answer (server-sent events), up to `data: [DONE]`."""
        with urllib.request.urlopen(self._request(path, {**body, "stream": True}), timeout=TIMEOUT_S) as response:
            for raw in response:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    yield json.loads(data)


def _chat(*messages: str) -> list[dict]:
    return [{"role": "user", "content": text} for text in messages]


def models(s: Server) -> str:
    status, data = s.get("/v1/models")
    served = [m["id"] for m in json.loads(data)["data"]]
    assert s.model in served, f"lists {served}, not {s.model}"
    return f"lists {s.model}"


def completions(s: Server) -> str:
    answer = s.post("/v1/completions", {"prompt": "The capital of France is", "max_tokens": MAX_TOKENS})
    assert isinstance(answer["choices"][0]["text"], str)
    return f"{answer['usage']['completion_tokens']} tokens"


def chat(s: Server) -> str:
    answer = s.post("/v1/chat/completions", {"messages": _chat("Say hello."), "max_tokens": MAX_TOKENS})
    assert answer["choices"][0]["message"]["role"] == "assistant"
    return f"{answer['usage']['completion_tokens']} tokens, finish {answer['choices'][0]['finish_reason']}"


def chat_stream(s: Server) -> str:
    chunks = list(s.stream("/v1/chat/completions", {"messages": _chat("Count to five."), "max_tokens": MAX_TOKENS}))
    assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks), "no chunk"
    return f"{len(chunks)} chunks"


def responses(s: Server) -> str:
    answer = s.post("/v1/responses", {"input": "Say hello.", "max_output_tokens": MAX_TOKENS,
                                      "reasoning": {"effort": "low"}})
    assert answer["object"] == "response" and isinstance(answer["output"], list), "not a response"
    return f"status {answer['status']}, {len(answer['output'])} output items"


def responses_stream(s: Server) -> str:
    events = [e.get("type") for e in s.stream("/v1/responses", {"input": "Say hello.",
                                                                "max_output_tokens": MAX_TOKENS})]
    assert events and events[0] == "response.created", f"first event {events[:1]}"
    assert events[-1] in ("response.completed", "response.incomplete"), f"last event {events[-1:]}"
    return f"{len(events)} events, {events[-1]}"


def tools(s: Server) -> str:
    answer = s.post("/v1/chat/completions", {"messages": _chat("What is the weather in Paris?"), "tools": [TOOL],
                                             "tool_choice": "auto", "max_tokens": MAX_TOKENS})
    message = answer["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    return f"answered with {len(calls)} tool call(s)" if calls else "answered (the random model called no tool)"


def json_schema(s: Server) -> str:
    answer = s.post("/v1/chat/completions", {"messages": _chat("Answer in JSON."), "response_format": SCHEMA,
                                             "max_tokens": MAX_TOKENS})
    return f"finish {answer['choices'][0]['finish_reason']}"


def metrics(s: Server, wanted: list[str], declared: list[str]) -> str:
    """The names our deploy files read are exported; how many of those the release declares are."""
    status, data = s.get("/metrics")
    text = data.decode()
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    names = {n.removesuffix("_total").removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
             for n in exported}
    missing = [name for name in wanted if name not in names]
    assert not missing, f"missing {', '.join(missing)}"
    return f"{', '.join(wanted)} exported; {sum(n in names for n in declared)} of the {len(declared)} declared"


PROBES: dict[str, Callable[[Server], str]] = {
    "models": models, "completions": completions, "chat": chat, "chat-stream": chat_stream,
    "responses": responses, "responses-stream": responses_stream, "tools": tools, "json-schema": json_schema,
}


def run(name: str, probe: Callable[[], str]) -> tuple[Result, float]:
    """One probe, timed: pass with what it saw, or fail with why."""
    started = time.monotonic()
    try:
        result = Result("pass", name, probe())
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")[:300]
        result = Result("fail", name, f"HTTP {exc.code}: {' '.join(body.split())}")
    except (urllib.error.URLError, OSError) as exc:
        result = Result("fail", name, f"no answer ({getattr(exc, 'reason', exc)})")
    except (AssertionError, KeyError, IndexError, TypeError, ValueError) as exc:
        result = Result("fail", name, f"an answer not in the API's shape ({type(exc).__name__}: {exc})")
    return result, time.monotonic() - started

