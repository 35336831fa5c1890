"""Feed `vllm serve` command lines to a real vLLM's own parser and validator.

Runs under the Python of an environment that has vLLM installed (no GPU needed), as
a file, so that an image needs nothing of this package to run it:

    VENV/bin/python -I gptoss_images/vllm/introspect.py < commands.json > results.json
    docker run --entrypoint python3 IMAGE -c "$(cat introspect.py)" "$(cat commands.json)"

Input: {"commands": [{"id": ..., "argv": ["vllm", "serve", ...]}]}.
Output: [{"id": ..., "ok": true|false, "error": "..."}], one per command, in one
process: importing vLLM costs ~10 s, parsing a command a few milliseconds.
Standard library and vLLM only.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys


def serve_parser():
    """vLLM's CLI parser with its `serve` subcommand, as the `vllm` binary builds it."""
    import vllm.platforms as platforms
    from vllm.platforms.cpu import CpuPlatform

    platforms._current_platform = CpuPlatform()  # no GPU here: parse as on a CPU machine
    import vllm.entrypoints.cli.serve as serve

    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser  # 0.11 and later
    except ImportError:
        from vllm.utils import FlexibleArgumentParser  # 0.10

    parser = FlexibleArgumentParser(description="vLLM CLI")
    subparsers = parser.add_subparsers(required=False, dest="subparser")
    (command,) = serve.cmd_init()
    command.subparser_init(subparsers)
    return parser, command


def check(parser, command, argv: list[str]) -> str | None:
    """None if vLLM accepts `argv`, else its error message."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parsed = parser.parse_args(list(argv[1:]))  # drop "vllm"
            command.validate(parsed)
    except SystemExit as exc:
        return _message(err.getvalue()) or f"rejected with exit code {exc.code}"
    except Exception as exc:  # vLLM's validators raise plain exceptions
        return f"{type(exc).__name__}: {exc}"
    return None


def _message(stderr: str) -> str:
    """argparse's error, on one line: pydantic's details joined, links and usage dropped."""
    text = stderr.split("error: ", 1)[-1] if "error: " in stderr else ""
    lines = [re.sub(r"\s*\[type=.*\]$", "", line.strip()) for line in text.splitlines()]
    return "; ".join(line for line in lines if line and not line.startswith("For further information"))


def main() -> int:
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # vLLM logs to stdout: keep it for the results alone
    commands = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())["commands"]
    parser, command = serve_parser()
    results = [{"id": c["id"], "ok": (e := check(parser, command, c["argv"])) is None, "error": e}
               for c in commands]
    json.dump(results, out)
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
