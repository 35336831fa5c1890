"""How gpt-oss's reference evals read an answer: GPQA's letter, AIME's integer (ported, standard library).

A faithful port of openai/gpt-oss gpt_oss/evals/abcd_grader.py and aime_eval.py
(Apache-2.0, commit 7b583341fe16729127f6d5b94a7b09ccae97e1a1), so that a score here is
a score there: the same patterns in the same priority.
"""

from __future__ import annotations

import re

_ABCD = [
    # "**Answer:** A", "*Answers* - B": a markdown-wrapped "Answer(s)" and a bare letter.
    re.compile(r"(?ix) (?:\*{1,2}|_{1,2}) Answer[s]? \s*[:\-–]? (?:\*{1,2}|_{1,2}) \s* ([ABCD])\b", re.X),
    # A line "Answer: C", optionally markdown-wrapped anywhere.
    re.compile(r"""(?ix) ^\s* (?:\*{1,2}|_{1,2})? Answer:? (?:\*{1,2}|_{1,2})? \s*:?\s*
                   (?:\*{1,2}|_{1,2})? ([ABCD]) (?:\*{1,2}|_{1,2})? \s*""", re.MULTILINE),
    re.compile(r"(?ix)\bAnswer[s]?\b\s*[:\-–]?\s*\(\s*([ABCD])\s*\)"),  # Answer: (C)
    re.compile(r"(?ix)\bAnswer[s]?\b\s*[:\-–]?\s*([ABCD])\b"),  # Answer: C
    re.compile(r"(?ix)\b(?:Option|Choice)\b\s*[:\-–]?\s*([ABCD])\b"),  # Option B
    re.compile(r"(?x)\\boxed\{[^}]*?([ABCD])[^}]*\}", re.MULTILINE),  # \boxed{A}
    re.compile(r"(?x)\\boxed\{[^}]*?\\textbf\{[^}]*?([ABCD])[^}]*\}[^}]*\}", re.MULTILINE),
    re.compile(r"(?x)\\boxed\{[^}]*?\\text\{[^}]*?([ABCD])[^}]*\}[^}]*\}", re.MULTILINE),
    re.compile(r"(?x)(?<![A-Za-z0-9])[\(\[]\s*([ABCD])\s*[\)\]](?![A-Za-z0-9])"),  # (A) [B]
    re.compile(r"(?x)(?<![A-Za-z0-9])(?:\*{1,2}|_{1,2})([ABCD])(?:\*{1,2}|_{1,2})(?![A-Za-z0-9])"),  # **B**
    re.compile(r"(?x)\\textbf\{[^}]*?([ABCD])[^}]*\}"),  # \textbf{C}
    # **D) text**
    re.compile(r"(?x)(?<![A-Za-z0-9]) (?:\*{1,2}|_{1,2}) \s*([ABCD])\) [^*_\n]+? (?:\*{1,2}|_{1,2}) (?![A-Za-z0-9])"),
    # A line that is just "A", "B.", "C)", "**D**"...
    re.compile(r"(?x)^\s* (?:\*{1,2}|_{1,2})? ([ABCD]) (?:\*{1,2}|_{1,2})? \s*[\.\)\-–:]? \s*.*$", re.MULTILINE),
]


def extract_abcd(text: str) -> str | None:
    """The letter a GPQA answer declares: the highest-priority pattern, the shortest match; else
    the text's first character, as the reference does."""
    matches = []
    for priority, pattern in enumerate(_ABCD):
        found = pattern.search(text)
        if found and found.group(1).upper() in "ABCD":
            matches.append((priority, len(found.group(0)), found.group(1).upper()))
    if matches:
        return min(matches)[2]
    return text.removeprefix("**")[:1]


def extract_boxed(text: str) -> str:
    """AIME's answer: the last \\boxed{} (or \\framebox{}), its last comma-separated part; else the
    last integer in the text."""
    for match in reversed(re.findall(r"boxed{(.*?)}|framebox{(.*?)}", text, re.DOTALL)):
        for group in match:
            if group != "":
                return group.split(",")[-1].strip()
    numbers = re.findall(r"\d+", text, re.DOTALL)
    return numbers[-1] if numbers else ""


def leading_number(text: str) -> str | None:
    """An AIME reference answer's leading digits."""
    match = re.match(r"\d+", text)
    return match.group(0) if match else None


def aime_score(response: str, answer: int) -> float:
    try:
        return 1.0 if int(extract_boxed(response)) == answer else 0.0
    except ValueError:
        return 0.0
