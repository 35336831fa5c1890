"""gptoss-eval: gpt-oss's reference evals (GPQA diamond, AIME 2025) against a server, judged by the recipe.

A faithful runner of openai/gpt-oss's gpt_oss.evals (whose package needs Python 3.12,
pandas and the OpenAI SDK, none of which the images hold): the same datasets, the same
prompts, the same seeded sampling and answer permutations, the same graders
(grading.py), temperature 1.0, the Responses API by default. The score is compared with
the recipe's table; the tolerance is three standard errors of the run's own sample
count, so that a healthy model fails about once in 700 runs and a quick --limit run is
judged as loosely as its size demands.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gptoss_images.core import files, text
from gptoss_images.core.inputs import BadInput
from gptoss_images.measure import common, grading

PROG = "gptoss-eval"
SOURCES = {
    "gpqa": ["https://openaipublic.blob.core.windows.net/simple-evals/gpqa_diamond.csv"],
    "aime25": ["https://huggingface.co/datasets/opencompass/AIME2025/raw/main/aime2025-I.jsonl",
               "https://huggingface.co/datasets/opencompass/AIME2025/raw/main/aime2025-II.jsonl"],
}
RECIPE = {  # vLLM's gpt-oss recipe, "Accuracy Evaluation Panels" (reproduced without tools)
    ("120b", "low"): {"gpqa": 65.3, "aime25": 51.2}, ("120b", "medium"): {"gpqa": 72.4, "aime25": 79.6},
    ("120b", "high"): {"gpqa": 79.4, "aime25": 93.0},
    ("20b", "low"): {"gpqa": 56.8, "aime25": 38.8}, ("20b", "medium"): {"gpqa": 67.5, "aime25": 75.0},
    ("20b", "high"): {"gpqa": 70.9, "aime25": 85.8},
}
REPEATS = 8
"""The reference's repeats of every question in a full run."""
SIGMAS = 3
GPQA_PROMPT = """{Question}

(A) {A}
(B) {B}
(C) {C}
(D) {D}

Express your final answer as the corresponding option 'A', 'B', 'C', or 'D'."""
AIME_PROMPT = "\n{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}.\n"
TRIES = 6
COLUMNS = {"gpqa": ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"),
           "aime25": ("question", "answer")}
"""What the reference reads of each row."""

EXAMPLES = """\
examples:
  docker exec SERVER gptoss-eval                          GPQA and AIME25 at low effort, 8 repeats each
  gptoss-eval --eval gpqa --limit 50                      a quick check: 50 questions, once
  gptoss-eval --reasoning-effort medium --url http://gptoss:8000
  gptoss-eval --data /datasets                            gpqa_diamond.csv, aime2025-I.jsonl, aime2025-II.jsonl there

The datasets are read from --data, else from <cache>/evals/, and downloaded there once
from the reference's sources if missing. Scores are compared with the recipe's table
(120b low: GPQA 65.3, AIME25 51.2; ...): a run passes at or above the recipe's score minus
three standard errors of its sample count (about 3 points for a full GPQA run).
exit codes: 0 every eval at or above the recipe, 1 one below (or the server failed), 2 bad input.
"""


@dataclass
class Outcome:
    eval: str
    model: str
    effort: str
    samples: int
    score: float
    recipe: float | None
    tolerance: float | None
    passed: bool
    errors: int
    failures: dict[str, int] = field(default_factory=dict)
    """How the failed requests failed ('HTTP 500': 3)."""
    too_few: int = 0
    """The samples a verdict needs, where this run had fewer: then it is not judged, and does not pass."""


@dataclass(frozen=True)
class Failure:
    """A request that got no usable answer after its retries, and why (the last try's reason)."""
    reason: str


def parser() -> common.Parser:
    p = common.Parser(prog=PROG, description=__doc__.split("\n\n", 1)[1], epilog=EXAMPLES)
    common.add_server_options(p)
    p.add_argument("--eval", default="gpqa,aime25", metavar="NAMES", help="gpqa, aime25 or both (default both)")
    p.add_argument("--reasoning-effort", default="low", choices=["low", "medium", "high"],
                   help="gpt-oss's reasoning effort (default low: minutes, the recipe's quick check)")
    p.add_argument("--limit", type=_count, metavar="N", help="N questions of each eval, once (a quick subset)")
    p.add_argument("--repeats", type=_count, metavar="N", help=f"runs of every question (default {REPEATS}; "
                                                               "1 with --limit)")
    p.add_argument("--threads", type=_count, default=128, metavar="N", help="requests in flight (default 128)")
    p.add_argument("--api", choices=["responses", "chat"], default="responses",
                   help="the Responses API (the reference's default) or Chat Completions")
    p.add_argument("--max-tokens", type=_count, metavar="N",
                   help="output token cap (default: none, the server's context decides)")
    p.add_argument("--request-timeout", type=_count, default=3600, metavar="S",
                   help="seconds one answer may take before it is retried (default 3600: a 131,072-token answer "
                        "at 40 tok/s)")
    p.add_argument("--data", metavar="DIR", help="the datasets' folder (default <cache>/evals)")
    p.add_argument("--result-dir", metavar="DIR", help="where results go (default <cache>/evals)")
    p.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    return p


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    try:
        ns = parser().parse_args(argv)
        names = [n.strip() for n in ns.eval.split(",") if n.strip()]
        unknown = [n for n in names if n not in SOURCES]
        if unknown or not names:
            raise BadInput(f"--eval {ns.eval!r}: unknown eval; allowed: {', '.join(SOURCES)}")
        if ns.limit and ns.repeats and ns.repeats != 1:
            raise BadInput("--limit with --repeats: a subset runs each question once, as the reference does")
        repeats = 1 if ns.limit else (ns.repeats or REPEATS)
        profile, plan, url, served = common.target(ns, environ)
        data = Path(ns.data or common.output_dir(None, environ, "evals"))
        out = Path(common.output_dir(ns.result_dir, environ, "evals"))
        size = model_size(served, plan.model)
        datasets = {name: examples(name, load(name, data), ns.limit, repeats) for name in names}
    except BadInput as exc:
        return common.fail(PROG, str(exc))
    key = common.api_key(environ)
    ask = _sampler(ns.api, f"{url}/v1", served, ns.reasoning_effort, ns.max_tokens, key, ns.request_timeout)
    outcomes = []
    for name, rows in datasets.items():
        started = time.monotonic()
        print(f"{PROG}: {name}: {len(rows)} requests to {url} ({served}, effort {ns.reasoning_effort}, "
              f"{ns.threads} in flight)", file=sys.stderr, flush=True)
        graded = run(name, rows, ask, ns.threads)
        outcome = judge(name, size, ns.reasoning_effort, graded)
        outcomes.append(outcome)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = out / f"eval-{profile['name']}-{size}-{name}-{ns.reasoning_effort}-{stamp}.json"
        path.write_text(json.dumps({"outcome": asdict(outcome), "server": url, "served_model": served,
                                    "api": ns.api, "repeats": repeats, "seconds": time.monotonic() - started,
                                    "samples": graded}, indent=1) + "\n")
        print(f"{PROG}: saved {path}", file=sys.stderr)
    print(json.dumps([asdict(o) for o in outcomes], indent=2) if ns.json else table(outcomes))
    return 0 if all(o.passed for o in outcomes) else 1


def model_size(served: str, planned: str) -> str:
    """20b or 120b: the served name's (a server may serve another model than the profile's default)."""
    for name in (served, planned):
        if name.endswith(("-20b", "-120b")):
            return name.rsplit("-", 1)[1]
    return planned.rsplit("-", 1)[-1]


def load(name: str, folder: Path) -> list[dict[str, Any]]:
    """The eval's rows, as the reference reads them (CSV rows; JSONL records in file order)."""
    rows: list[dict[str, Any]] = []
    for url in SOURCES[name]:
        path = folder / url.rsplit("/", 1)[1]
        if not path.exists():
            _download(url, path)
        rows += _records(name, path)
    return rows


def _records(name: str, path: Path) -> list[dict[str, Any]]:
    """One data file's records, each with the columns the reference reads, or one line that says what is wrong."""
    try:
        data = files.read_text(path, 256 * files.MiB)
        records = (list(csv.DictReader(io.StringIO(data, newline=""))) if path.suffix == ".csv" else
                   [json.loads(line) for line in data.splitlines() if line.strip()])
    except files.Unreadable as exc:
        raise BadInput(f"{path}: {exc.reason}") from None
    except (ValueError, RecursionError, csv.Error) as exc:
        raise BadInput(f"{path}: not {'CSV' if path.suffix == '.csv' else 'JSON lines'} "
                       f"({str(exc).splitlines()[0][:120]}); delete it to download it again") from None
    for number, record in enumerate(records, 1):
        missing = [c for c in COLUMNS[name] if not isinstance(record, dict) or record.get(c) is None]
        if missing:
            raise BadInput(f"{path}: record {number} lacks {', '.join(missing)}; each needs "
                           f"{', '.join(COLUMNS[name])}; delete it to download it again")
    return records


def examples(name: str, rows: list[dict[str, Any]], limit: int | None, repeats: int) -> list[dict[str, Any]]:
    """The reference's examples: a seeded sample (with --limit), repeated, each with its permutation."""
    if name == "aime25":
        rows = [{"question": r["question"], "answer": grading.leading_number(r["answer"])
                 if isinstance(r["answer"], str) else r["answer"]} for r in rows]
    rng = random.Random(0)
    if limit:
        if limit > len(rows):
            raise BadInput(f"--limit {limit}: {name} has {len(rows)} questions")
        rows = rng.sample(rows, limit)
    rows = rows * repeats
    return [row | {"permutation": rng.sample(range(4), 4)} for row in rows]


def prompt(name: str, row: dict[str, Any]) -> tuple[str, str]:
    """The question as the reference words it, and the right answer."""
    if name == "aime25":
        return AIME_PROMPT.format(question=row["question"]), str(int(row["answer"]))
    choices = [row["Correct Answer"], row["Incorrect Answer 1"], row["Incorrect Answer 2"], row["Incorrect Answer 3"]]
    choices = [choices[i] for i in row["permutation"]]
    letters = dict(zip("ABCD", choices))
    return GPQA_PROMPT.format(Question=row["Question"], **letters), "ABCD"[choices.index(row["Correct Answer"])]


def run(name: str, rows: list[dict[str, Any]], ask: Callable[[str], str | Failure], threads: int) -> list[dict]:
    def one(row: dict[str, Any]) -> dict[str, Any]:
        text, right = prompt(name, row)
        answer = ask(text)
        if isinstance(answer, Failure):
            return {"right": right, "extracted": None, "score": 0.0, "error": True, "failure": answer.reason}
        extracted = grading.extract_abcd(answer) if name == "gpqa" else grading.extract_boxed(answer)
        score = (1.0 if extracted == right else 0.0) if name == "gpqa" else grading.aime_score(answer, int(right))
        return {"right": right, "extracted": extracted, "score": score, "error": False, "response": answer[-2000:]}

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, rows))


def judge(name: str, size: str, effort: str, graded: list[dict]) -> Outcome:
    samples = len(graded)
    score = 100 * sum(g["score"] for g in graded) / samples
    recipe = RECIPE.get((size, effort), {}).get(name)
    errors = sum(g["error"] for g in graded)
    failures = dict(Counter(g["failure"] for g in graded if g["error"]).most_common())
    if recipe is None:
        return Outcome(name, size, effort, samples, score, None, None, errors == 0, errors, failures)
    tolerance = tolerance_points(recipe, samples)
    needed = samples_to_judge(recipe)
    if samples < needed:
        return Outcome(name, size, effort, samples, score, recipe, tolerance, False, errors, failures, needed)
    return Outcome(name, size, effort, samples, score, recipe, tolerance,
                   errors == 0 and score >= recipe - tolerance, errors, failures)


def samples_to_judge(recipe: float) -> int:
    """The fewest samples whose pass mark (the recipe's score less three standard errors) lies above half the
    recipe's score, so that a model scoring half of it fails; half of every score in the recipe's table is
    above chance (GPQA's four choices: 25 %). 28 for gpt-oss-20b's GPQA at low effort, 57 for its AIME25."""
    p = recipe / 100
    return math.ceil(SIGMAS**2 * p * (1 - p) / (p / 2) ** 2)


def tolerance_points(recipe: float, samples: int) -> float:
    """Three standard errors of a pass rate `recipe` % measured on `samples` answers, in points."""
    p = recipe / 100
    return 100 * SIGMAS * math.sqrt(p * (1 - p) / samples)


def table(outcomes: list[Outcome]) -> str:
    rows = [("eval", "model", "effort", "samples", "score", "recipe", "tolerance", "result")]
    for o in outcomes:
        how = ", ".join(f"{reason} x {count}" for reason, count in o.failures.items())
        result = "ok" if o.passed else (f"{o.errors} requests failed ({how})" if o.errors else
                                        f"too few samples to judge (at least {o.too_few})" if o.too_few else
                                        "BELOW the recipe")
        rows.append((o.eval, f"gpt-oss-{o.model}", o.effort, str(o.samples), f"{o.score:.1f}",
                     "-" if o.recipe is None else f"{o.recipe:.1f}",
                     "-" if o.tolerance is None else f"-{o.tolerance:.1f}", result))
    return text.columns(rows)


def _sampler(api: str, base: str, model: str, effort: str, max_tokens: int | None, key: str | None,
             timeout: float) -> Callable[[str], str | Failure]:
    """One question -> the answer's text, or the Failure of its last try once retries are spent. A 400 answers
    empty, as the reference scores it. The first failure of each kind is said at once, not after the retries."""
    endpoint = f"{base}/{'responses' if api == 'responses' else 'chat/completions'}"
    said: set[str] = set()
    lock = threading.Lock()

    def failed(reason: str) -> Failure:
        with lock:
            if reason not in said:
                said.add(reason)
                print(f"{PROG}: POST {endpoint}: {reason}; retrying up to {TRIES} times", file=sys.stderr, flush=True)
        return Failure(reason)

    def ask(question: str) -> str | Failure:
        messages = [{"role": "user", "content": question}]
        if api == "responses":
            body: dict[str, Any] = {"model": model, "input": messages, "temperature": 1.0,
                                    "reasoning": {"effort": effort}}
            if max_tokens:
                body["max_output_tokens"] = max_tokens
        else:
            body = {"model": model, "messages": messages, "temperature": 1.0, "reasoning_effort": effort}
            if max_tokens:
                body["max_tokens"] = max_tokens
        failure = Failure("no answer")
        for trial in range(TRIES):
            try:
                reply = common.request(endpoint, body, key, timeout=timeout)
                text = _output_text(reply) if api == "responses" else (
                    (reply.get("choices") or [{}])[0].get("message") or {}).get("content")
                if text or api == "responses":
                    return text or ""
                failure = failed("an answer without content")
            except urllib.error.HTTPError as exc:
                if exc.code == 400:
                    return ""
                failure = failed(f"HTTP {exc.code}")
            except TimeoutError:
                failure = failed(f"no answer within {timeout:g} s (--request-timeout)")
            except (urllib.error.URLError, OSError, ValueError) as exc:
                failure = failed(str(getattr(exc, "reason", exc))[:120])
            time.sleep(min(2 ** trial, 30))
        return failure
    return ask


def _output_text(reply: dict[str, Any]) -> str:
    """The Responses API's output_text: every output message's text parts, joined."""
    return "".join(part.get("text", "") for item in reply.get("output") or [] if item.get("type") == "message"
                   for part in item.get("content") or [] if part.get("type") == "output_text")


def _download(url: str, path: Path) -> None:
    print(f"{PROG}: downloading {url} into {path.parent}", file=sys.stderr, flush=True)
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise BadInput(f"{url}: cannot download it ({getattr(exc, 'reason', exc)}); put "
                       f"{path.name} in --data DIR") from None
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of at least 1")
    return int(text)
