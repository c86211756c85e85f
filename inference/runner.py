"""One model of the cascade: prompts, the batched greedy generation pass and the signals of a batch.

:class:`ModelRunner` loads the tokenizer at construction (checking the tokens that the requested signals need, so
that a bad tokenizer fails before any model runs), the weights in :meth:`ModelRunner.load`, and turns a batch of
questions into per-question values (:meth:`ModelRunner.run_batch`): left-padded batches, ``torch.inference_mode``,
one ``generate`` call with raw logits kept (:mod:`.signals` gives the definitions), plus one forward step for the
verification question of ``verify-yes``.  :func:`.extract.extract` drives it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .models import ModelSpec, check_model_path, single_token_ids, transformers_at_least
from .prompts import PromptSet, fields
from .questions import Question, one_line
from .signals import (
    DEFAULT_SIGNALS,
    SIGNALS,
    aggregate_class_logits,
    log_softmax,
    logsumexp,
    scaled_log_softmax,
)

__all__ = ["CONFIDENCE_TOKENS", "DEFAULT_MAX_NEW_TOKENS", "ModelRunner", "Settings", "resolve_signals"]

DEFAULT_MAX_NEW_TOKENS = {"mc": 1, "open": 32}
CONFIDENCE_TOKENS = ("<CN>", "<UN>")


def _error(msg: str):
    from probcascade.exceptions import DataValidationError

    return DataValidationError(msg)


@dataclass
class Settings:
    """The validated options of a run that every model shares (built by :func:`.extract.extract`)."""

    task: str
    signals: tuple[str, ...]
    primary: str
    batch_size: int
    device: str
    dtype: str
    max_new_tokens: int
    prompts: PromptSet
    chat_template: str  # "auto" | "never"
    trust_remote_code: bool
    judge: Callable
    scaling: object
    n_letters: int  # the most choices of any question (mc)

    @property
    def generates(self) -> bool:
        return self.task == "open" or any(SIGNALS[s].needs_generation for s in self.signals)

    @property
    def n_steps(self) -> int:
        """Generation steps: the answer budget, plus one look-ahead step for the confidence token."""
        if not self.generates:
            return 1
        return self.max_new_tokens + (1 if "confidence-token" in self.signals else 0)


def resolve_signals(task: str, signals, primary) -> tuple[tuple[str, ...], str]:
    """Validate ``--signals`` (comma-separated or a list; default per task) and choose the ``raw_logprob`` one."""
    if task not in ("mc", "open"):
        raise _error(f"--task must be 'mc' or 'open', got {task!r}")
    if signals is None or signals == "":
        sig = list(DEFAULT_SIGNALS[task])
    else:
        sig = [s.strip() for s in signals.split(",")] if isinstance(signals, str) else list(signals)
        sig = [s for s in sig if s]
    unknown = [s for s in sig if s not in SIGNALS]
    if unknown:
        raise _error(f"--signals: unknown signal(s) {unknown} (known: {', '.join(SIGNALS)})")
    if len(set(sig)) != len(sig):
        raise _error(f"--signals: a signal is listed twice in {sig}")
    wrong = [s for s in sig if task not in SIGNALS[s].tasks]
    if wrong:
        raise _error(f"--signals: {wrong} not available for --task {task} (they need answer choices)")
    if primary is None:
        pref = "mc-maxprob" if task == "mc" else "verify-yes"
        primary = pref if pref in sig else next((s for s in sig if SIGNALS[s].is_logprob), None)
        if primary is None:
            raise _error(f"--signals {sig}: raw_logprob needs a log-probability signal among them "
                         f"({', '.join(s for s in SIGNALS if SIGNALS[s].is_logprob)})")
    else:
        if primary not in sig:
            raise _error(f"--primary {primary!r} is not among --signals {sig}")
        if not SIGNALS[primary].is_logprob:
            raise _error(f"--primary {primary!r} is an uncertainty, not a log-probability; raw_logprob needs one of "
                         f"{', '.join(s for s in SIGNALS if SIGNALS[s].is_logprob)}")
    return tuple(sig), primary


class ModelRunner:
    """One model of the cascade: tokenizer checks, prompts, and the batched generation pass."""

    def __init__(self, spec: ModelSpec, settings: Settings):
        self.spec = spec
        self.settings = settings
        self.model = None
        self._load_tokenizer()

    # ---------------------------------------------------------------- tokenizer (before any work)
    def _load_tokenizer(self) -> None:
        from transformers import AutoTokenizer

        s = self.settings
        check_model_path(self.spec)
        try:
            tok = AutoTokenizer.from_pretrained(self.spec.path, trust_remote_code=s.trust_remote_code)
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds; all mean "cannot load"
            raise _error(f"model '{self.spec.name}': cannot load a tokenizer from {self.spec.path} "
                         f"({type(exc).__name__}: {exc})") from None
        tok.padding_side = "left"
        if tok.pad_token_id is None and tok.eos_token_id is None:
            raise _error(f"model '{self.spec.name}': the tokenizer has neither a pad nor an end-of-sequence token")
        self.tok = tok
        self.pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        self.use_chat = s.chat_template == "auto" and bool(getattr(tok, "chat_template", None))

        # token sets of every class the signals look at, checked now so that a bad tokenizer fails before any work
        self.letter_ids: list[list[int]] = []
        if s.task == "mc":
            for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: s.n_letters]:
                ids = single_token_ids(tok, c)
                if not ids:
                    raise _error(f"model '{self.spec.name}': the tokenizer has no single token for the answer letter "
                                 f"{c!r} (tried {c!r} and {' ' + c!r}); multiple-choice signals need the answer "
                                 "letters as tokens")
                self.letter_ids.append(ids)
            self._check_disjoint(self.letter_ids, "answer letters")
        self.yes_ids = self.no_ids = []
        if "verify-yes" in s.signals:
            self.yes_ids, self.no_ids = single_token_ids(tok, "Y"), single_token_ids(tok, "N")
            if not self.yes_ids or not self.no_ids:
                raise _error(f"model '{self.spec.name}': verify-yes needs 'Y' and 'N' as single tokens, and this "
                             "tokenizer lacks them")
            self._check_disjoint([self.yes_ids, self.no_ids], "Y/N")
        self.cn_id = self.un_id = None
        if "confidence-token" in s.signals:
            vocab = tok.get_vocab()
            missing = [t for t in CONFIDENCE_TOKENS if t not in vocab]
            if missing:
                raise _error(f"model '{self.spec.name}': confidence-token needs the Self-REF tokens <CN> and <UN> in "
                             f"the tokenizer; missing {missing}")
            self.cn_id, self.un_id = int(vocab["<CN>"]), int(vocab["<UN>"])

        watch = sorted({i for ids in self.letter_ids for i in ids} | set(self.yes_ids) | set(self.no_ids)
                       | ({self.cn_id, self.un_id} - {None}))
        self.watch_ids = watch
        self._col = {tid: k for k, tid in enumerate(watch)}

    def _check_disjoint(self, sets, what):
        seen = {}
        for k, ids in enumerate(sets):
            for i in ids:
                if i in seen:
                    raise _error(f"model '{self.spec.name}': token id {i} spells two of the {what}")
                seen[i] = k

    # ---------------------------------------------------------------- prompts
    def render(self, system: str, user: str) -> list[int]:
        """Token ids of a (system, user) prompt: through the chat template when there is one, else plain text."""
        tok = self.tok
        if self.use_chat:
            msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
            try:
                text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            except Exception:  # noqa: BLE001 - e.g. templates that reject a system message
                merged = [{"role": "user", "content": (system + "\n\n" + user) if system else user}]
                text = tok.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)
            return list(tok(text, add_special_tokens=False)["input_ids"])
        text = (system + "\n\n" + user) if system else user
        return list(tok(text, add_special_tokens=True)["input_ids"])

    def prompt_ids(self, q: Question) -> list[int]:
        p, f = self.settings.prompts, fields(q)
        return self.render(p.system.format(**f), p.user.format(**f))

    def verify_prompt_ids(self, q: Question, answer: str) -> list[int]:
        p, f = self.settings.prompts, fields(q, model_answer=answer)
        return self.render(p.verify_system.format(**f), p.verify_user.format(**f))

    @property
    def stop_ids(self) -> list[int]:
        ids = set()
        for src in (self.tok.eos_token_id, getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)):
            if src is None:
                continue
            ids.update([int(src)] if isinstance(src, int) else [int(i) for i in src])
        if self.cn_id is not None:
            ids.update((self.cn_id, self.un_id))
        return sorted(ids)

    # ---------------------------------------------------------------- model
    def load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        s = self.settings
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[s.dtype]
        kw: dict = {"trust_remote_code": s.trust_remote_code}
        kw["dtype" if transformers_at_least("4.56") else "torch_dtype"] = dtype
        if s.device == "cuda":
            try:
                import accelerate  # noqa: F401

                kw["device_map"] = "auto"  # spreads models larger than one GPU over the GPUs (and CPU)
            except ImportError:
                pass
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            model = AutoModelForCausalLM.from_pretrained(self.spec.path, **kw)
        except Exception as exc:  # noqa: BLE001
            raise _error(f"model '{self.spec.name}': cannot load the model from {self.spec.path} "
                         f"({type(exc).__name__}: {exc})") from None
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        if "device_map" not in kw:
            model.to(s.device)
        model.eval()
        self.model = model
        self.input_device = model.get_input_embeddings().weight.device

    def unload(self) -> None:
        self.model = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass

    def _first_letter(self, n_choices: Sequence[int]):
        """A logits processor for multiple choice: at the first output position only the best spelling of the
        answer letter (the arg-max of the letter probabilities, as for ``mc-maxprob``) may be generated, so that
        the generated output starts with the recorded answer; later positions are free.  The raw logits that the
        signals use are not changed (``output_logits``)."""
        import torch
        from transformers import LogitsProcessor

        letter_ids = self.letter_ids

        class FirstLetter(LogitsProcessor):
            def __init__(self):
                self.first = True

            def __call__(self, input_ids, scores):
                if not self.first:
                    return scores
                self.first = False
                x = scores.to(torch.float64)
                out = torch.full_like(scores, float("-inf"))
                for b, n in enumerate(n_choices):
                    sets = letter_ids[:n]
                    lse = torch.stack([torch.logsumexp(x[b, ids], 0) for ids in sets])
                    ids = sets[int(torch.argmax(lse))]
                    best = ids[int(torch.argmax(x[b, ids]))]
                    out[b, best] = scores[b, best]
                return out

        return FirstLetter()

    def generate(self, prompts: list[list[int]], n_steps: int, n_choices: Sequence[int] | None = None) -> dict:
        """Greedy generation of ``n_steps`` tokens for a left-padded batch; per-step statistics from raw logits.

        With ``n_choices`` (multiple choice), the first generated token is the best spelling of the answer letter.
        Returns numpy arrays: ``seq`` (B, T) generated ids, ``token_logprob`` (B, T) log p of each generated token,
        ``entropy`` (B, T) entropy of each step's distribution (nats), ``watched`` (B, T, K) the raw logits of
        :attr:`watch_ids`, ``lse`` (B, T) the log-normaliser of each step (so ``watched - lse`` are log-probs).
        """
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for b, p in enumerate(prompts):
            ids[b, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[b, width - len(p):] = 1
        cfg = GenerationConfig(
            max_new_tokens=n_steps, min_new_tokens=0, do_sample=False, num_beams=1, eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id, output_logits=True, return_dict_in_generate=True, use_cache=True,
        )
        procs = LogitsProcessorList([self._first_letter(n_choices)] if n_choices is not None else [])
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids.to(self.input_device), attention_mask=mask.to(self.input_device),
                                      generation_config=cfg, logits_processor=procs)
            seq = out.sequences[:, width:]
            watch = torch.tensor(self.watch_ids, dtype=torch.long)
            tlp, ent, wat, lses = [], [], [], []
            for t, lg in enumerate(out.logits):
                x = lg.to(torch.float64)
                lse = torch.logsumexp(x, dim=-1)
                lsm = x - lse[:, None]
                p = lsm.exp()
                ent.append(-torch.where(p > 0, p * lsm, torch.zeros_like(p)).sum(-1))
                tlp.append(lsm.gather(1, seq[:, t: t + 1].to(lsm.device))[:, 0])
                wat.append(x[:, watch.to(x.device)])
                lses.append(lse)
            res = {
                "seq": seq.cpu().numpy(),
                "token_logprob": torch.stack(tlp, 1).cpu().numpy(),
                "entropy": torch.stack(ent, 1).cpu().numpy(),
                "watched": torch.stack(wat, 1).cpu().numpy(),
                "lse": torch.stack(lses, 1).cpu().numpy(),
            }
        return res

    # ---------------------------------------------------------------- one batch -> rows
    def run_batch(self, questions: Sequence[Question]) -> list[dict]:
        """All signals of a batch of questions; one dict per question (column -> value, plus ``_stats``)."""
        s = self.settings
        prompts = [self.prompt_ids(q) for q in questions]
        g = self.generate(prompts, s.n_steps, [len(q.choices) for q in questions] if s.task == "mc" else None)
        T = g["seq"].shape[1]
        stops = np.isin(g["seq"], self.stop_ids)
        budget = s.max_new_tokens if s.generates else 1
        rows = []
        for b, q in enumerate(questions):
            hit = np.flatnonzero(stops[b])
            j = int(hit[0]) if hit.size else None
            if j is not None and j < budget:
                scored, ans_len, conf_pos = j + 1, j, j
            else:
                scored = min(T, budget)
                ans_len, conf_pos = scored, budget
            rows.append({"_scored": scored, "_ans_len": ans_len, "_conf_pos": conf_pos, "tokens_in": len(prompts[b]),
                         "tokens_out": scored})

        col = self._col
        W, lse = g["watched"], g["lse"]
        for b, (q, r) in enumerate(zip(questions, rows)):
            L = r["_scored"]
            if s.task == "mc":
                letters = [logsumexp(W[b, 0, [col[i] for i in ids]]) for ids in self.letter_ids[: len(q.choices)]]
                lp = log_softmax(np.array(letters))
                a = int(np.argmax(lp))
                r["answer"], r["_answer_index"] = q.letters[a], a
                r["correct"] = int(q.letters[a] == q.gold)
                r["mc-maxprob"] = float(lp[a])
            else:
                text = self.tok.decode(g["seq"][b, : r["_ans_len"]].tolist(), skip_special_tokens=True)
                r["answer"] = one_line(text)
                r["correct"] = int(bool(s.judge(text.strip(), q)))
            tl = g["token_logprob"][b, :L]
            r["sequence-prob"] = float(np.sum(tl))
            r["perplexity"] = float(-np.mean(tl))
            r["mean-token-entropy"] = float(np.mean(g["entropy"][b, :L]))
            if self.cn_id is not None:
                c = r["_conf_pos"]
                cn, un = W[b, c, col[self.cn_id]] - lse[b, c], W[b, c, col[self.un_id]] - lse[b, c]
                r["confidence-token"] = float(cn - np.logaddexp(cn, un))
            r["gold"], r["subject"] = q.gold, q.subject
            r["_generated"] = g["seq"][b, : r["_scored"]].tolist()

        if "token-aggregate" in s.signals:
            self._token_aggregate(questions, rows, g)
        if "verify-yes" in s.signals:
            vprompts = [self.verify_prompt_ids(q, r["answer"]) for q, r in zip(questions, rows)]
            v = self.generate(vprompts, 1)
            for b, r in enumerate(rows):
                y = logsumexp(v["watched"][b, 0, [col[i] for i in self.yes_ids]])
                n = logsumexp(v["watched"][b, 0, [col[i] for i in self.no_ids]])
                r["verify-yes"] = float(y - np.logaddexp(y, n))
                r["_verify_tokens_in"] = len(vprompts[b])
        return rows

    def _token_aggregate(self, questions, rows, g) -> None:
        """Seed 000 §2.1 over the scored output positions, grouped by number of choices."""
        col = self._col
        T = g["seq"].shape[1]
        by_n: dict[int, list[int]] = {}
        for b, q in enumerate(questions):
            by_n.setdefault(len(q.choices), []).append(b)
        for n, idx in by_n.items():
            sets = self.letter_ids[:n]
            cols = [col[i] for ids in sets for i in ids]
            class_cols, k = [], 0
            for ids in sets:
                class_cols.append(list(range(k, k + len(ids))))
                k += len(ids)
            logits = g["watched"][idx][:, :, cols]
            pos = np.arange(T)[None, :] < np.array([rows[b]["_scored"] for b in idx])[:, None]
            x = aggregate_class_logits(logits, class_cols, pos)
            lz = scaled_log_softmax(x, self.settings.scaling)
            for k2, b in enumerate(idx):
                rows[b]["token-aggregate"] = float(lz[k2, rows[b]["_answer_index"]])
