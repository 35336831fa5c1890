"""Write the self-test's model folder: a synthetic gpt-oss checkpoint and its tokenizer, whole or not at all.

usage: python3 -m gptoss_images.measure.synthetic OUT_DIR --vocab o200k_base.tiktoken
       [--like 20b|120b] [--size tiny|full] [--seed N]

Offline and seeded: the same arguments write the same bytes. The folder is written
aside and renamed into place, so a folder that exists is complete.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from gptoss_images.measure import checkpoint, tokenizer


def write(out: Path, vocab: Path, like: str = "20b", size: str = "tiny", seed: int = 0) -> int:
    """Write the model folder `out` (replacing it); the bytes of weights written."""
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        total = checkpoint.write(partial, like, size, seed)
        tokenizer.write(vocab, partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synthetic", description=__doc__.split("\n\n")[1])
    parser.add_argument("out", type=Path, help="the model folder to write (replaced whole)")
    parser.add_argument("--vocab", type=Path, required=True, help="o200k_base.tiktoken (harmony's vocabulary)")
    parser.add_argument("--like", choices=sorted(checkpoint.LIKE), default="20b",
                        help="the gpt-oss whose architecture it has (default 20b)")
    parser.add_argument("--size", choices=sorted(checkpoint.SIZES), default="tiny",
                        help="tiny (hidden 1024, 2 layers: seconds) or full (the real shapes)")
    parser.add_argument("--seed", type=int, default=0)
    ns = parser.parse_args(argv)
    started = time.monotonic()
    total = write(ns.out, ns.vocab, ns.like, ns.size, ns.seed)
    print(f"synthetic: wrote {ns.out} ({total / 2**20:.0f} MiB of weights) in {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
