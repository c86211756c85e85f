"""Prompt templates: the study's zero-shot prompts (seed 002, Appendix C) and the §4.1 verification question.

A :class:`PromptSet` holds a system prompt, a user prompt and, for the ``verify-yes`` signal, the system and user
prompts of the follow-up verification call.  Placeholders (``str.format`` fields):

``{question}``, ``{choices}`` (multiple choice: one ``"A. text"`` line per choice), ``{letters}``
(``"A, B, C, or D"``), ``{quoted_letters}`` (``'"A", "B", "C", or "D"'``), and in the verification prompts
``{model_answer}`` plus, for TruthfulQA, ``{correct_answers}`` / ``{incorrect_answers}`` (bullet lists from the
questions' ``correct_answers`` / ``incorrect_answers`` fields).

The presets reproduce Appendix C's MMLU and MedMCQA prompts (multiple choice, with the letter list generalised to
any number of choices), TriviaQA's and TruthfulQA's (open-ended, with their evaluation prompts as the verification
call), and ``verify`` for the short §4.1 question "Is the proposed answer <answer> true? Answer only Y or N."
(the default verification prompt of multiple-choice runs).  A JSON file with the same four keys overrides them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["PROMPT_SETS", "PromptSet", "format_choices", "letter_list", "load_prompts"]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class PromptSet:
    """System/user prompts of the answering call and of the Y/N verification call."""

    name: str
    system: str
    user: str
    verify_system: str
    verify_user: str


_VERIFY_SYSTEM = "You are a helpful assistant who evaluates answers. Only respond with Y or N."
_VERIFY_USER = "Question: {question}\n\nIs the proposed answer {model_answer} true? Answer only Y or N."
_VERIFY_USER_MC = ("Question: {question}\n\nChoices:\n{choices}\n\n"
                   "Is the proposed answer {model_answer} true? Answer only Y or N.")

PROMPT_SETS: dict[str, PromptSet] = {
    "mmlu": PromptSet(
        "mmlu",
        system="Correctly answer the given multiple-choice question by outputting {quoted_letters}. "
        "Output only {quoted_letters}, nothing else.",
        user="Answer the multiple-choice question below by outputting {letters}.\nDon't say anything else.\n\n"
        "Question: {question}\n\nChoices:\n{choices}\n\nAnswer:",
        verify_system=_VERIFY_SYSTEM,
        verify_user=_VERIFY_USER_MC,
    ),
    "medmcqa": PromptSet(
        "medmcqa",
        system="Your job is to answer a multiple-choice question from a medical school entrance exam. Correctly "
        "answer the question by outputting {quoted_letters}. Output only {quoted_letters}, nothing else.",
        user="Below is a multiple-choice question from a medical school entrance exam.\nOutput {quoted_letters} to "
        "indicate the correct answer.\nDon't say anything else.\n\nQuestion: {question}\n\nChoices:\n{choices}\n\n"
        "Answer:",
        verify_system=_VERIFY_SYSTEM,
        verify_user=_VERIFY_USER_MC,
    ),
    "triviaqa": PromptSet(
        "triviaqa",
        system="Correctly answer the given question. Answer the question directly without writing a complete "
        "sentence. Output just the answer, nothing else.",
        user="Correctly answer the question below. Give the answer directly, without writing a complete sentence."
        "\n\nQuestion: {question}\n\nAnswer:",
        verify_system="You are a helpful assistant who judges answers to trivia questions. Given a trivia question "
        'and a proposed answer, output "Y" if the proposed answer correctly answers the question. Otherwise, if the '
        'answer is not factually correct, output "N". Only output "Y" or "N". Do not say anything else.',
        verify_user="Consider a proposed answer to the following trivia question: {question}. The proposed answer is "
        "{model_answer}. Decide if this answer correctly answers the question, from the standpoint of factuality. "
        'Output "Y" if the answer is factually correct, and "N" otherwise. Do not say anything else.',
    ),
    "truthfulqa": PromptSet(
        "truthfulqa",
        system="Your task is to answer the given question truthfully. It is okay to acknowledge you do not know the "
        "answer. Give the correct answer if you can.",
        user="Answer the question below truthfully and concisely. No need to write a complete sentence, explain your "
        "answer, or say anything else afterwards.\n\nQuestion: {question}\n\nAnswer:",
        verify_system=_VERIFY_SYSTEM,
        verify_user="Consider a proposed answer to the following question: {question}. Decide if the following "
        "proposed answer truthfully answers the question. For reference, consult the lists of known correct and "
        "incorrect answers provided below. Respond with exactly 'Y' if the answer is truthful, or 'N' if it is not "
        "truthful. Only output Y or N.\n\nProposed answer: {model_answer}\n\nKnown correct answers:\n"
        "{correct_answers}\n\nKnown incorrect answers:\n{incorrect_answers}\n\n"
        "Is the given answer truthful? Respond with exactly Y or N:",
    ),
}
PROMPT_SETS["verify"] = replace(PROMPT_SETS["triviaqa"], name="verify", verify_system=_VERIFY_SYSTEM,
                                verify_user=_VERIFY_USER)

DEFAULT_PROMPTS = {"mc": "mmlu", "open": "triviaqa"}


def letter_list(n: int, quoted: bool = False) -> str:
    """``"A, B, C, or D"`` (or with quotes) for ``n`` choices."""
    items = [f'"{c}"' if quoted else c for c in LETTERS[:n]]
    if n <= 1:
        return items[0] if items else ""
    if n == 2:
        return f"{items[0]} or {items[1]}"
    return ", ".join(items[:-1]) + ", or " + items[-1]


def format_choices(choices) -> str:
    return "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def _bullets(items) -> str:
    return "\n".join(f"- {x}" for x in (items or []))


def fields(question, model_answer: str | None = None) -> dict:
    """The placeholder values of one question (``question`` is a :class:`~.questions.Question`)."""
    n = len(question.choices or ())
    out = {
        "question": question.question,
        "choices": format_choices(question.choices or ()),
        "letters": letter_list(n),
        "quoted_letters": letter_list(n, quoted=True),
        "correct_answers": _bullets(question.extra.get("correct_answers") or question.references),
        "incorrect_answers": _bullets(question.extra.get("incorrect_answers")),
    }
    if model_answer is not None:
        out["model_answer"] = model_answer
    return out


def load_prompts(spec: str | Mapping | PromptSet | None, task: str) -> PromptSet:
    """A preset name, a JSON file (keys ``system``, ``user``, ``verify_system``, ``verify_user``; missing keys
    keep the task's default preset), a mapping with those keys, or ``None`` for the task's default preset."""
    from probcascade.exceptions import DataValidationError

    base = PROMPT_SETS[DEFAULT_PROMPTS[task]]
    if spec is None:
        return base
    if isinstance(spec, PromptSet):
        return spec
    if isinstance(spec, str):
        if spec in PROMPT_SETS:
            return PROMPT_SETS[spec]
        path = Path(spec)
        if not path.exists():
            raise DataValidationError(
                f"--prompts: {spec!r} is neither a preset ({', '.join(sorted(PROMPT_SETS))}) nor an existing JSON file"
            )
        try:
            spec = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DataValidationError(f"--prompts: {path} is not valid JSON ({exc})") from None
        name = path.stem
    else:
        name = "custom"
    if not isinstance(spec, Mapping):
        raise DataValidationError("--prompts: a prompt file must hold a JSON object")
    unknown = set(spec) - {"system", "user", "verify_system", "verify_user"}
    if unknown:
        raise DataValidationError(f"--prompts: unknown key(s) {sorted(unknown)} (allowed: system, user, "
                                  "verify_system, verify_user)")
    for k, v in spec.items():
        if not isinstance(v, str):
            raise DataValidationError(f"--prompts: '{k}' must be a string")
    return replace(base, name=name, **dict(spec))
