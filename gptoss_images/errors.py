"""Problems found in user input, reported all at once, one line each."""

from __future__ import annotations

from dataclasses import dataclass

from gptoss_images.core.inputs import one_line


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    file: str = ""

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.path) if p)
        return one_line(f"{where}: {self.message}" if where else self.message)


class UserError(Exception):
    """Bad input: the CLI prints each problem on one line and exits with code 2. `detail` (the
    last lines a failed build printed, say) follows the error line, indented."""

    def __init__(self, problems: list[Problem] | str, detail: str = ""):
        self.problems = [Problem("", problems)] if isinstance(problems, str) else problems
        self.detail = detail
        super().__init__("\n".join(map(str, self.problems)))
