"""What every ``probcascade`` subcommand shares: the common options, input files, output formats and exit codes.

* :func:`add_common_options` is an idempotent post-pass that ``build_parser`` runs after every subcommand has been
  registered (those in ``main.py``, ``analysis.py``, other modules and the Torch bridge's ``extract``/``tiny-model``):
  it walks every subparser and adds the options it does not define already -- ``--format table|json|csv``,
  ``--seed``, ``-q/--quiet``, ``-v/--verbose`` and ``--progress`` -- and an example to a ``--help`` that lacks one.
  A new subcommand gets them without any code of its own.
* :func:`run_command` runs the parsed command with the command line's conventions: progress bars on stderr only
  (on when stderr is a terminal or with ``--progress``, off with ``-q``), warnings as one ``probcascade: warning:``
  line, and the exit codes 0 (success), 1 (a runtime failure: an unexpected exception, reported in one line, with
  the traceback under ``-v``) and 2 (bad input or usage: a :class:`~probcascade.exceptions.ProbcascadeError`, or
  argparse's own usage errors).
* :func:`load_cascade` reads a tidy CSV for a command and names the file's role (``training file``,
  ``--test file``) in every error about it; :func:`load_train_test` reads a command's TRAIN and ``--test``.
* :func:`write_frame` prints a table as CSV (``--format csv``).
* :func:`add_model_options` gives a command ``--copula``/``--correctness``/``--study-model``, :func:`model_choice`
  resolves them; :func:`default_transform` is the calibration transform a command uses without ``--transform``.

JAX-free at import (``tests/test_startup.py``): numerics are imported by the commands when they run.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = [
    "COMMON_OPTIONS",
    "FORMATS",
    "add_common_options",
    "add_model_options",
    "default_transform",
    "has_example",
    "load_cascade",
    "load_train_test",
    "model_choice",
    "one_line",
    "run_command",
    "subcommand_parsers",
    "wants_progress",
    "write_frame",
]

#: Output formats every subcommand accepts: an aligned table (default), JSON, or CSV of its main table.
FORMATS = ("table", "json", "csv")
#: The destinations of the options :func:`add_common_options` guarantees on every subcommand.
COMMON_OPTIONS = ("format", "seed", "quiet", "verbose", "progress")

#: ``--help`` examples of subcommands registered by code that does not write one itself (the Torch bridge).
EXAMPLES = {
    "extract": "probcascade extract --model sshleifer/tiny-gpt2 --questions questions.jsonl --task mc "
               "--out cascade.csv",
    "tiny-model": "probcascade tiny-model /tmp/tiny-llama --layers 2 --hidden 32",
}


# ------------------------------------------------------------------------------------------------ parser post-pass
def subcommand_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Name -> parser of every subcommand of ``parser`` (aliases resolved to one entry each)."""
    out: dict[str, argparse.ArgumentParser] = {}
    seen: set[int] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sp in action.choices.items():
                if id(sp) not in seen:
                    seen.add(id(sp))
                    out[name] = sp
    return out


def has_example(sp: argparse.ArgumentParser) -> bool:
    """Whether the subcommand's ``--help`` (description or epilog) shows an example command line."""
    return any("Example" in (text or "") for text in (sp.description, sp.epilog))


def _add_missing(sp: argparse.ArgumentParser, flags: tuple[str, ...], **kwargs: Any) -> None:
    """Add an option under the flags ``sp`` does not use yet, unless its destination exists already."""
    dest = kwargs["dest"]
    if any(a.dest == dest for a in sp._actions):
        return
    free = [f for f in flags if f not in sp._option_string_actions]
    if free:
        sp.add_argument(*free, **kwargs)


def add_common_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give every subcommand of ``parser`` the common options and an example in its ``--help`` (idempotent).

    Options a subcommand defines itself (e.g. a ``--format`` with fewer choices, a ``--seed`` with another default,
    the Torch bridge's ``--progress/--no-progress``) are kept as they are; a flag string already taken (e.g. ``-v``
    for something else) is left out and the long form added alone.
    """
    for name, sp in subcommand_parsers(parser).items():
        _add_missing(sp, ("--format",), dest="format", choices=FORMATS, default="table",
                     help="output: an aligned table (default), JSON, or CSV of the main table, on stdout")
        _add_missing(sp, ("--seed",), dest="seed", type=int, default=0,
                     help="seed of every random step (default 0; commands without one accept and ignore it)")
        _add_missing(sp, ("-q", "--quiet"), dest="quiet", action="store_true",
                     help="no progress bars or notes on stderr (errors and warnings still show)")
        _add_missing(sp, ("-v", "--verbose"), dest="verbose", action="store_true",
                     help="show the traceback of an unexpected error")
        _add_missing(sp, ("--progress",), dest="progress", action="store_true", default=None,
                     help="progress bars on stderr even when it is not a terminal (default: only on a terminal)")
        if not has_example(sp) and name in EXAMPLES:
            sp.epilog = f"Example: {EXAMPLES[name]}"
    if parser.epilog is None:
        parser.epilog = ("Every subcommand takes --format table|json|csv, --seed, -q/--quiet, -v/--verbose and "
                         "--progress (see 'probcascade SUBCOMMAND --help'). Results go to stdout, progress bars, "
                         "notes and errors to stderr. Exit codes: 0 success, 1 runtime failure, 2 bad input or usage.")
    return parser


# ------------------------------------------------------------------------------------------------ model options
def add_model_options(parser: argparse.ArgumentParser, correctness: bool = True) -> None:
    """``--copula``, ``--correctness`` (both default ``auto``: the rule of :mod:`probcascade.tuning.recommended`,
    AIC copulas and pairwise correctness from 100 training queries up, the study's model below) and
    ``--study-model``. JAX-free; :func:`model_choice` resolves them."""
    from probcascade.tuning.options import COPULA_CHOICES, CORRECTNESS_CHOICES
    from probcascade.tuning.recommended import PAIRWISE_MIN_N

    rule = f"n >= {PAIRWISE_MIN_N} training queries: the recommended model, below: the study's model"
    parser.add_argument("--copula", default="auto", choices=(*COPULA_CHOICES, "auto"),
                        help=f"copula family of every pair, or 'aic' to choose per pair by AIC (default auto: aic "
                             f"from {PAIRWISE_MIN_N} training queries up, else gumbel, the study's)")
    if correctness:
        parser.add_argument("--correctness", default="auto", choices=(*CORRECTNESS_CHOICES, "auto"),
                            help="P(correct) of the answering model: its calibrated confidence (marginal, the "
                                 "study's model) or given its predecessor's confidence too (pairwise); default auto: "
                                 f"pairwise from {PAIRWISE_MIN_N} training queries up, else marginal")
    parser.add_argument("--study-model", action="store_true",
                        help="the study's model (Gumbel copulas" + (", marginal correctness" if correctness else "")
                             + f") whatever the data size (default: {rule})")


def model_choice(args: argparse.Namespace, n: int):
    """The model a command runs for ``n`` training queries (:func:`probcascade.tuning.recommended.resolve_model` of
    the options of :func:`add_model_options`); a :class:`~probcascade.tuning.recommended.ModelChoice`."""
    from probcascade.tuning.recommended import resolve_model

    # a command without --correctness (gof): the rule's text names the copula only when it chose it
    correctness = getattr(args, "correctness", "auto" if args.copula == "auto" else "marginal")
    return resolve_model(n, args.copula, correctness, study_model=args.study_model)


def default_transform(path: str) -> str:
    """The study's choice: two-sided for open-ended benchmarks (TruthfulQA), one-sided for multiple choice."""
    return "two-sided" if "truthfulqa" in Path(path).name.lower() else "one-sided"


# ------------------------------------------------------------------------------------------------ running
def one_line(exc: BaseException) -> str:
    """An exception's message on one line (continuation lines joined with ' ')."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text or type(exc).__name__


def wants_progress(args: argparse.Namespace) -> bool:
    """Progress bars for this run: never with ``-q``; always with ``--progress``; else when stderr is a terminal."""
    from probcascade.progress import stderr_is_terminal

    if getattr(args, "quiet", False):
        return False
    return bool(getattr(args, "progress", None)) or stderr_is_terminal()


def _warning_printer(verbose: bool):
    def show(message, category, filename, lineno, file=None, line=None):
        where = f" ({category.__name__} at {filename}:{lineno})" if verbose else ""
        print(f"probcascade: warning: {one_line(message)}{where}", file=sys.stderr)

    return show


def run_command(args: argparse.Namespace) -> int:
    """Run ``args.func(args)`` with the command line's conventions (see the module docstring); the exit code."""
    from probcascade.exceptions import ProbcascadeError
    from probcascade.progress import close_all, progress_enabled

    quiet, verbose = bool(getattr(args, "quiet", False)), bool(getattr(args, "verbose", False))
    show = wants_progress(args)
    if quiet and getattr(args, "progress", None) is not None:
        args.progress = False           # commands that read the flag themselves (tune, extract) stay quiet too
    with warnings.catch_warnings(), progress_enabled(show):
        warnings.showwarning = _warning_printer(verbose)
        from probcascade.compilation_cache import enable_compilation_cache

        try:   # compile once per machine (PROBCASCADE_CACHE_DIR moves it, PROBCASCADE_NO_CACHE=1: off)
            enable_compilation_cache()
        except OSError as exc:   # e.g. a read-only home: run without the cache
            if not quiet:
                print(f"probcascade: note: compilation cache off ({exc})", file=sys.stderr)
        try:
            try:
                return int(args.func(args) or 0)
            finally:
                close_all()              # a bar left open by a failing step: the message below gets its own line
        except ProbcascadeError as exc:          # bad input: the message names the file, model, column or option
            if verbose:
                import traceback

                traceback.print_exc()
            print(f"probcascade: error: {one_line(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("probcascade: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - the command line's last resort: one line, exit code 1
            if verbose:
                import traceback

                traceback.print_exc()
            hint = "" if verbose else " (run with -v for the traceback)"
            print(f"probcascade: error: {type(exc).__name__}: {one_line(exc)}{hint}", file=sys.stderr)
            return 1


# ------------------------------------------------------------------------------------------------ input and output
def load_cascade(path, *, role: str = "training", models=None, loader=None):
    """``CascadeData.from_csv(path, models=models)`` (or ``loader(path, models=models)``), every error naming the
    file's role: ``--test file 'x.csv': column 'correct' ...``.

    ``role`` is ``"training"`` (the positional TRAIN) or ``"test"`` (``--test``); ``loader`` replaces the reader
    (e.g. one that also returns the answers column), its result is returned as it is.
    """
    from probcascade.exceptions import DataValidationError

    if loader is None:
        from probcascade.data.cascade import CascadeData

        loader = CascadeData.from_csv
    label = "--test file" if role == "test" else f"{role} file"
    try:
        return loader(path, models=models)
    except DataValidationError as exc:
        raise DataValidationError(f"{label} {one_line(exc)}") from exc


def load_train_test(args: argparse.Namespace):
    """(train, test) of a command: the positional TRAIN and ``--test`` in TRAIN's model order, or TRAIN again when
    the command has no ``--test`` (errors name the file's role, :func:`load_cascade`)."""
    train = load_cascade(args.train)
    test = load_cascade(args.test, role="test", models=train.models) if getattr(args, "test", None) else train
    return train, test


def write_frame(frame, *, index: bool = False) -> None:
    """Print a pandas frame as CSV on stdout (``--format csv``)."""
    sys.stdout.write(frame.to_csv(index=index))
