"""Questions file: JSONL, one question per line, validated with errors that name the line.

Fields of one line (a JSON object):

``question``   the question text (required, non-empty)
``choices``    multiple choice (``--task mc``): a list of 2 to 26 non-empty answer texts, lettered A, B, ...
``answer``     the gold answer: a letter (or 0-based index) for ``mc``; a reference answer or a list of them for
               ``open`` (optional there when a custom judge does not need it)
``id``         optional query identifier (string or integer, unique); default: the 0-based question index
``subject``    optional, copied to the output (for task-level analyses)

Other keys are kept in :attr:`Question.extra` (e.g. TruthfulQA's ``correct_answers`` / ``incorrect_answers`` for its
verification prompt, or whatever a custom judge needs).  Blank lines are skipped.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .prompts import LETTERS

__all__ = ["Question", "load_questions", "one_line", "parse_questions"]


@dataclass(frozen=True)
class Question:
    """One validated question."""

    id: str
    question: str
    choices: tuple[str, ...] | None
    gold: str  # mc: the gold letter; open: the first reference answer ("" if none)
    references: tuple[str, ...] = ()
    subject: str = ""
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def letters(self) -> str:
        return LETTERS[: len(self.choices or ())]


def _error(source: str, line: int, message: str):
    from probcascade.exceptions import DataValidationError

    return DataValidationError(f"{source} line {line}: {message}")


def one_line(text) -> str:
    """Whitespace (newlines included) collapsed and control characters dropped: every output row stays on one line."""
    return " ".join("".join(ch for ch in str(text) if ch.isspace() or unicodedata.category(ch) != "Cc").split())


def parse_questions(lines, task: str, source: str = "questions") -> list[Question]:
    """Validate JSONL ``lines`` (an iterable of strings) for ``task`` (``"mc"`` or ``"open"``)."""
    if task not in ("mc", "open"):
        from probcascade.exceptions import DataValidationError

        raise DataValidationError(f"task must be 'mc' or 'open', got {task!r}")
    out: list[Question] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _error(source, lineno, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise _error(source, lineno, f"expected a JSON object, got {type(obj).__name__}")
        q = obj.get("question")
        if not isinstance(q, str):
            raise _error(source, lineno, "missing 'question'" if q is None else "'question' must be a string")
        if not q.strip():
            raise _error(source, lineno, "empty 'question'")

        qid = obj.get("id", len(out))
        if isinstance(qid, bool) or not isinstance(qid, (str, int)):
            raise _error(source, lineno, f"'id' must be a string or an integer, got {qid!r}")
        qid = one_line(qid)
        if not qid:
            raise _error(source, lineno, "empty 'id'")
        if qid in seen:
            raise _error(source, lineno, f"duplicate id {qid!r} (first on line {seen[qid]})")
        seen[qid] = lineno

        choices = obj.get("choices")
        references: tuple[str, ...] = ()
        if task == "mc":
            if choices is None:
                raise _error(source, lineno, "missing 'choices' (needed for --task mc)")
            if not isinstance(choices, list) or not all(isinstance(c, (str, int, float)) for c in choices):
                raise _error(source, lineno, "'choices' must be a list of strings")
            choices = tuple(str(c) for c in choices)
            if not 2 <= len(choices) <= len(LETTERS):
                raise _error(source, lineno, f"'choices' must hold 2 to {len(LETTERS)} answers, got {len(choices)}")
            if any(not c.strip() for c in choices):
                raise _error(source, lineno, "'choices' has an empty answer")
            ans = obj.get("answer")
            if ans is None:
                raise _error(source, lineno, "missing 'answer' (the gold letter)")
            if isinstance(ans, int) and not isinstance(ans, bool):
                if not 0 <= ans < len(choices):
                    raise _error(source, lineno, f"'answer' index {ans} outside 0..{len(choices) - 1}")
                gold = LETTERS[ans]
            elif isinstance(ans, str) and ans.strip().upper() in LETTERS[: len(choices)] and len(ans.strip()) == 1:
                gold = ans.strip().upper()
            else:
                raise _error(source, lineno, f"'answer' must be one of the letters {LETTERS[:len(choices)]} "
                                             f"(or a 0-based index), got {ans!r}")
        else:
            if choices is not None:
                raise _error(source, lineno, "'choices' given for --task open (use --task mc)")
            ans = obj.get("answer")
            if ans is None:
                references = ()
            elif isinstance(ans, str):
                references = (ans,)
            elif isinstance(ans, list) and all(isinstance(a, str) for a in ans):
                references = tuple(ans)
            else:
                raise _error(source, lineno, "'answer' must be a reference answer or a list of them")
            gold = one_line(references[0]) if references else ""
        subject = obj.get("subject", "")
        if not isinstance(subject, str):
            raise _error(source, lineno, "'subject' must be a string")
        extra = {k: v for k, v in obj.items() if k not in ("id", "question", "choices", "answer", "subject")}
        out.append(Question(id=qid, question=q, choices=choices if task == "mc" else None, gold=gold,
                            references=references, subject=one_line(subject), line=lineno, extra=extra))
    if not out:
        from probcascade.exceptions import DataValidationError

        raise DataValidationError(f"{source}: no questions (the file is empty)")
    return out


def load_questions(path: str | Path, task: str) -> list[Question]:
    """Read and validate a questions JSONL file; errors name the file and line."""
    from probcascade.exceptions import DataValidationError

    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"questions file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataValidationError(f"{path}: not UTF-8 text ({exc})") from None
    return parse_questions(text.splitlines(), task, source=str(path))
