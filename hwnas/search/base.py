"""Search strategy interface (NNI-style): one class per searcher, registered by name, sharing seeded RNG,
an evaluation budget, the constraint handler and resumable state.

A strategy declares its options (:class:`~hwnas.search.options.Option`: type, default, one line of help)
and what it needs from the search beyond the space and an accuracy function (``needs``, keys of
:data:`NEEDS`), which arrives in a :class:`SearchContext`.  Nothing outside a strategy's own module knows
its name.

Resume works by deterministic replay: a strategy's decisions depend only on its seed and on the scores it
has seen, so ``load_state_dict`` hands back the scores already computed, in order, and a re-run follows
the same trajectory without re-evaluating up to where it stopped, then continues.  Strategies that train
weights or architecture parameters extend ``state_dict`` with those.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar

from hwnas.constraints import Constraint, CostModel, HardFilter
from hwnas.errors import HwnasError
from hwnas.registry import Registry
from hwnas.search.options import Option, validate_options
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace

Evaluate = Callable[[Arch], float]


class BudgetExhausted(Exception):
    """Raised inside a strategy when its evaluation budget is spent."""


@dataclass
class Record:
    index: int
    arch: str
    accuracy: float
    source: str
    metrics: dict[str, float] = field(default_factory=dict)
    satisfied: bool = True
    wall_s: float = 0.0

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        m = d.pop("metrics")
        return {**d, **m}


#: what a strategy may need beyond the space, an accuracy function and the hard filter
NEEDS = {"supernet": "the weight-sharing supernet itself (its modules, to sample paths through)",
         "trainer": "a supernet trainer (train its weights during the search)",
         "data": "the training and held-out splits (architecture parameters learn on the held-out one)",
         "cost": "the cost model: every metric and per-layer cost arrays (LUT latency, MACs, params, BitOps)"}


@dataclass
class SearchContext:
    """What the search offers a strategy besides the space, the evaluator and the hard filter."""

    supernet: Any = None   # hwnas.supernet.Supernet
    trainer: Any = None    # hwnas.search.supernet_eval.SupernetTrainer
    data: Any = None       # hwnas.data.Dataset
    cost: CostModel | None = None
    constraints: list[Constraint] = field(default_factory=list)
    out_dir: str | None = None  # where strategy-specific outputs (plots, per-epoch logs) go
    #: a known-answer accuracy (the planted task, :mod:`hwnas.search.planted`): strategies that would estimate an
    #: arch's accuracy their own way (EPNAS's fine-tuning performance predictor) use it instead
    known_accuracy: Callable[[Arch], float] | None = None

    def has(self, need: str) -> bool:
        return getattr(self, need) is not None


class Strategy:
    name: ClassVar[str] = ""
    #: declared options, validated wherever they come from (``--opt``, Python keywords)
    options: ClassVar[tuple[Option, ...]] = ()
    #: keys of :data:`NEEDS` this strategy uses from its :class:`SearchContext`
    needs: ClassVar[tuple[str, ...]] = ()
    #: False: it scores archs with a supernet trained beforehand (``hwnas search`` trains or loads one);
    #: True: it trains the supernet's weights itself from scratch, jointly with what it learns
    trains_supernet: ClassVar[bool] = False

    def __init__(self, space: SearchSpace, evaluate: Evaluate, hard: HardFilter | None, budget: int | None = None,
                 seed: int = 0, on_record: Callable[[Record], None] | None = None,
                 on_checkpoint: Callable[["Strategy"], None] | None = None, context: SearchContext | None = None,
                 params: dict[str, Any] | None = None, **options: Any) -> None:
        """``options``: the declared options as keywords, validated here; ``params``: options validated already
        (a :class:`hwnas.search.plan.SearchPlan`'s), taken as given."""
        if params is not None and options:
            raise TypeError("give the options as keywords or as validated params, not both")
        self.params = dict(params) if params is not None else self.validate(options)
        self.context = context or SearchContext()
        missing = [n for n in self.needs if not self.context.has(n)]
        if missing:
            raise HwnasError(f"strategy '{self.name}' needs {'; '.join(NEEDS[n] for n in missing)}")
        budget = self.default_budget(self.params) if budget is None else budget
        if budget < 1:
            raise HwnasError("--budget must be at least 1 evaluation")
        self.space, self._evaluate, self.hard = space, evaluate, hard
        self.budget, self.seed = budget, seed
        self.rng = random.Random(seed)
        self.history: list[Record] = []
        self._scores: dict[Arch, float] = {}
        self._replay: list[tuple[str, float]] = []
        self.on_record, self.on_checkpoint = on_record, on_checkpoint
        self.t0 = time.time()
        self.stopped_by = ""
        #: things the user must know about the result (result.yaml ``warnings`` and the console), e.g. a fallback
        self.warnings: list[str] = []

    @classmethod
    def validate(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Every declared option's value (defaults filled in); an unknown key or bad value is an error."""
        return validate_options(cls.name, cls.options, options)

    @classmethod
    def default_budget(cls, params: dict[str, Any]) -> int:
        """Evaluations when ``--budget`` is not given."""
        return 1000

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"name": cls.name, "summary": cls.summary(), "needs": list(cls.needs),
                "trains_supernet": cls.trains_supernet, "default_budget": cls.default_budget(cls.validate({})),
                "options": [o.describe() for o in cls.options]}

    # -- shared helpers ----------------------------------------------------------------------------
    def sample(self, propose: Callable[[random.Random], Arch] | None = None) -> Arch:
        if self.hard is not None:
            return self.hard.sample(self.rng, propose)
        return (propose or self.space.random_arch)(self.rng)

    def ok(self, arch: Arch) -> bool:
        return self.hard is None or self.hard.ok(arch)

    def score(self, arch: Arch, source: str, fresh: bool = False, evaluate: Callable[[], float] | None = None) -> float:
        """Accuracy of ``arch``, recorded in the history.  Archs are evaluated once unless ``fresh`` (weights
        changed since); ``evaluate`` overrides how.  During a resume, the i-th evaluation replays the i-th
        saved score when it is for the same arch."""
        if arch in self._scores and not fresh:
            return self._scores[arch]
        if len(self.history) >= self.budget:
            raise BudgetExhausted()
        key = str(arch)
        i = len(self.history)
        if i < len(self._replay) and self._replay[i][0] == key:
            acc = self._replay[i][1]
        else:
            self._replay = self._replay[:i]  # trajectory diverged (or new): evaluate from here on
            acc = evaluate() if evaluate is not None else self._evaluate(arch)
        metrics = self.hard.metrics(arch) if self.hard is not None else {}
        rec = Record(
            len(self.history), key, float(acc), source, dict(metrics), self.ok(arch), round(time.time() - self.t0, 3)
        )
        self.history.append(rec)
        self._scores[arch] = float(acc)
        if self.on_record:
            self.on_record(rec)
        return float(acc)

    def extra_result(self) -> dict[str, Any]:
        """Strategy-specific fields for ``result.yaml`` (e.g. per-epoch entropy, proposals); default none."""
        return {}

    def report(self) -> str:
        """One line about the run for the CLI summary (what it sampled, spent, learned); default none."""
        return ""

    def write_outputs(self, out_dir: str) -> None:
        """Strategy-specific files beside the common ones (per-epoch logs, plots), written atomically; default none."""

    def checkpoint(self) -> None:
        if self.on_checkpoint:
            self.on_checkpoint(self)

    @property
    def best(self) -> Record | None:
        ok = [r for r in self.history if r.satisfied]
        # ties in accuracy go to the faster / smaller arch
        return (
            max(ok, key=lambda r: (r.accuracy, -r.metrics.get("latency", r.metrics.get("macs", 0.0)))) if ok else None
        )

    # -- running -----------------------------------------------------------------------------------
    def search(self) -> None:
        raise NotImplementedError

    def run(self) -> "Strategy":
        try:
            self.search()
            self.stopped_by = "finished"
        except BudgetExhausted:
            self.stopped_by = "budget"
        self.checkpoint()
        return self

    # -- checkpoints (strategies that learn weights or parameters keep them beside state.json) ------------
    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.context.out_dir or ".", f"{self.name}.pt")

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """``state`` plus the history, atomically, to :attr:`checkpoint_path` (nothing without an output dir)."""
        if not self.context.out_dir:
            return
        from hwnas.supernet.train import atomic_torch_save

        rows = [[r.index, r.arch, r.accuracy, r.source, r.metrics, r.satisfied, r.wall_s] for r in self.history]
        atomic_torch_save({**state, "history": rows}, self.checkpoint_path)

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The saved state, with the history restored (resumed strategies continue from it instead of
        replaying scores), or None where there is no checkpoint."""
        if not os.path.exists(self.checkpoint_path):
            return None
        from hwnas.supernet.train import load_checkpoint

        ck = load_checkpoint(self.checkpoint_path)
        self.history = [Record(int(i), str(a), float(acc), str(src), dict(m), bool(ok), float(w))
                        for i, a, acc, src, m, ok, w in ck["history"]]
        self._scores = {self.space.parse(r.arch): r.accuracy for r in self.history}
        self._replay = []
        return ck

    def state_dict(self) -> dict[str, Any]:
        return {"strategy": self.name, "seed": self.seed, "budget": self.budget, "params": self.params,
                "scores": [[r.arch, r.accuracy] for r in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("strategy") != self.name or state.get("seed") != self.seed:
            raise HwnasError(f"cannot resume: the saved search used strategy {state.get('strategy')!r} with seed "
                             f"{state.get('seed')}; pass the same --strategy and --seed")
        saved = state.get("params")
        if saved is not None and saved != json.loads(json.dumps(self.params)):
            diff = ", ".join(f"{k}={saved.get(k)!r} (now {self.params.get(k)!r})" for k in sorted(self.params)
                             if saved.get(k) != self.params.get(k))
            raise HwnasError(f"cannot resume: the saved search used other options ({diff}); pass the same --opt "
                             "values, or start a new search in another --out")
        self._replay = [(str(a), float(v)) for a, v in state.get("scores", [])]
        ck = self.load_checkpoint()
        if ck is not None:
            self.restore(ck)

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Take back the state :meth:`save_checkpoint` wrote (the history is already restored); default none."""


STRATEGIES: Registry[type[Strategy]] = Registry("search strategy")


register_strategy = STRATEGIES.register_class
list_strategies = STRATEGIES.names
get_strategy = STRATEGIES.get


def describe_strategies() -> list[dict[str, Any]]:
    """Every registered strategy with its options and defaults (``hwnas strategies``)."""
    return [get_strategy(n).describe() for n in list_strategies()]
