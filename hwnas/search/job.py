"""``hwnas search`` as one library call: :class:`SearchJob` checks everything cheap first (constraints,
strategy options, files, data, feasibility), then builds or loads what it needs (a calibrated LUT for this
machine, a trained supernet; both cached) and runs :func:`hwnas.search.driver.run_search`.

Python users call it as the CLI does::

    from hwnas.search.job import SearchJob
    outcome = SearchJob(space="proxyless", constraints={"latency": "6ms"}, options={"population": 20}).run()
    print(outcome.result["arch"], outcome.result["latency"])
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from hwnas.constraints import fmt_value, parse_constraints
from hwnas.data import Dataset, load_dataset
from hwnas.errors import ConstraintError, HwnasError
from hwnas.lut import LUT, space_for
from hwnas.lut.table import check_lut_space
from hwnas.lut.measure import latency_floor
from hwnas.profilers import TimingConfig, get_profiler
from hwnas.search.base import get_strategy
from hwnas.search.driver import SearchOutcome, run_search
from hwnas.search.plan import SearchPlan
from hwnas.io import check_output_dir
from hwnas.search.setup import cached_lut, ensure_lut, ensure_supernet
from hwnas.supernet.levers import DEFAULT_RECIPE, Recipe
from hwnas.supernet.train import CKPT, load_checkpoint
from hwnas.space.base import SearchSpace, get_space
from hwnas.supernet.api import chance_warning, supernet_from_checkpoint
from hwnas.supernet.model import Supernet

#: a bound below this fraction of the space's smallest network (measured once) fails before any profiling
FLOOR_MARGIN = 0.5
QUICK = TimingConfig(warmup=3, block=5, min_runs=10, max_runs=30, max_seconds=1.0)


@dataclass
class SearchJob:
    space: str = "proxyless"
    constraints: dict[str, str] = field(default_factory=dict)  # metric -> text, e.g. {"latency": "17ms"}
    strategy: str = "evolution"
    options: dict[str, Any] = field(default_factory=dict)      # the strategy's declared options
    budget: int | None = None                                  # None: the strategy's default
    lut: str | None = None                                     # None: profile this machine (cached)
    supernet: str | None = None                                # None: train one on ``data`` (cached)
    data: str = "digits"
    device: str = "cpu"                                        # for the on-demand LUT
    backend: str = "ort"
    runner: dict[str, Any] = field(default_factory=dict)      # the runner's options (threads, provider, ...)
    input_size: int | None = None                              # deployment resolution (None: the LUT's, else 224)
    supernet_epochs: int = 8
    supernet_recipe: Recipe = DEFAULT_RECIPE                   # the on-demand supernet's training levers
    seed: int = 0
    out_dir: str | None = None                                 # None: runs/search-<time>
    resume: bool = False
    overwrite: bool = False                                    # start again in an --out that holds a search
    remeasure: bool = True

    def __post_init__(self) -> None:
        self._data: Dataset | None = None
        self._lut: LUT | None = None

    # -- cheap checks ------------------------------------------------------------------------------
    def check(self) -> SearchPlan:
        """Everything that takes seconds, before anything that takes minutes: constraints, strategy and its
        options, files, data, and whether the bounds can be met at all.  Returns the validated plan (its latency
        bounds count once a LUT exists: :meth:`SearchPlan.with_lut`)."""
        constraints = parse_constraints(**self.constraints)
        get_strategy(self.strategy)
        if self.resume and not self.out_dir:
            raise HwnasError("--resume needs --out DIR, the directory of the search to continue")
        check_output_dir(self.out_dir or "runs", state="state.json" if self.out_dir else None,
                         marks=("result.yaml", "history.csv"), resume=self.resume, overwrite=self.overwrite,
                         what="search")
        if self.supernet and not os.path.exists(self.supernet):
            raise HwnasError(f"--supernet {self.supernet} not found; train one with `hwnas train-supernet` or drop it")
        self._data = load_dataset(self.data, seed=self.seed)
        if self.lut:
            self._lut = LUT.load(self.lut)
            check_lut_space(self._lut, self.space, f"--lut {self.lut}")
            lut_in = self._lut.meta.get("input_size")
            if self.input_size is not None and lut_in is not None and int(lut_in) != self.input_size:
                raise HwnasError(f"--input {self.input_size} but --lut {self.lut} was measured at {lut_in} px; drop "
                                 f"--input (the LUT's size is used) or profile a LUT at {self.input_size} px")
        else:
            self._lut = cached_lut(self.space, self.deploy_input, self._data.num_classes, self.device, self.backend,
                                   self.runner)
        deploy = self.deploy_space()
        # every bound against the LUT; without one yet, the counter bounds (latency's are checked below)
        plan = SearchPlan.make(deploy, constraints, self.strategy, self.options, self.budget, self._lut, self.seed)
        lat = [c for c in constraints if c.metric == "latency" and c.hi is not None]
        if self._lut is None and lat:  # no LUT yet: time the space's smallest network once, in about a second
            with get_profiler(self.backend, device=self.device, config=QUICK, **self.runner) as prof:
                _, floor = latency_floor(deploy, prof)
            for c in lat:
                if c.hi < FLOOR_MARGIN * floor:
                    raise ConstraintError(
                        f"{c} cannot be met in space '{self.space}': its smallest network (fewest MACs) takes "
                        f"{fmt_value('latency', floor)} on {self.backend}/{self.device} here (measured now, before "
                        "profiling a LUT); loosen the bound")
        return plan

    def deploy_space(self) -> SearchSpace:
        """The space at the deployment resolution (the LUT's, when there is one)."""
        if self._lut is not None:
            return space_for(self._lut)
        classes = self._data.num_classes if self._data is not None else 1000
        return get_space(self.space, input_size=self.deploy_input, num_classes=classes)

    def needs_profiling(self, plan: SearchPlan) -> bool:
        """A LUT is measured only for a latency bound: a search bounded by counters alone (FLOPs, params, ...)
        uses a LUT only if one is given or already cached, to report the result's predicted latency."""
        return plan.lut is None and any(c.metric == "latency" for c in plan.constraints)

    @property
    def deploy_input(self) -> int:
        return self.input_size or 224

    # -- the run -----------------------------------------------------------------------------------
    def run(self, progress: Callable[..., None] | None = None) -> SearchOutcome:
        plan = self.check()
        data = self._data
        assert data is not None
        out_dir = self.out_dir or f"runs/search-{time.strftime('%Y%m%d-%H%M%S')}"
        lut_path = self.lut
        if self.needs_profiling(plan):
            lut_path, self._lut = ensure_lut(self.space, self.deploy_input, data.num_classes, self.device, self.backend,
                                             self.runner, progress)
            plan = plan.with_lut(self._lut, self.deploy_space())  # the bounds against the calibrated LUT
        elif plan.lut is not None and lut_path is None:
            lut_path = "(cached LUT of this machine)"
        net, supernet_path, trained = self._supernet(plan.strategy.trains_supernet, data, progress)
        settings = {**{k: v for k, v in asdict(self).items() if k not in ("constraints", "options", "out_dir")},
                    "options": plan.params, "lut": lut_path, "supernet": supernet_path, "data": data.name,
                    "input_size": plan.space.input_size, **trained}
        return run_search(plan, net, data, out_dir, settings, resume=self.resume, remeasure=self.remeasure,
                          progress=progress)

    def _supernet(
        self, fresh: bool, data: Dataset, progress: Callable[..., None] | None
    ) -> tuple[Supernet, str | None, dict[str, Any]]:
        """(supernet, its checkpoint, what result.yaml records of how it was trained: the checkpoint's own
        settings, not this job's defaults)."""
        if fresh:  # the strategy trains the weights itself, from scratch
            if self.supernet:
                raise HwnasError(f"strategy '{self.strategy}' trains its own supernet from scratch; drop --supernet")
            sp = get_space(self.space, input_size=data.image_size, num_classes=data.num_classes)
            return Supernet(sp, "entangled"), None, {"supernet_epochs": None, "supernet_recipe": None,
                                                     "supernet_note": "trained by the strategy itself (see options)"}
        if self.supernet:
            path = self.supernet
            ck = load_checkpoint(os.path.join(path, CKPT) if os.path.isdir(path) else path)
            net, meta = supernet_from_checkpoint(ck, path)
            if meta["space"] != self.space:
                raise HwnasError(f"--supernet {path} was trained on space '{meta['space']}', not '{self.space}'")
            epochs = int(ck.get("epoch", 0))
        else:  # the cache holds it trained to exactly these epochs
            path, net, meta = ensure_supernet(self.space, data, self.supernet_epochs, self.seed, progress=progress,
                                              recipe=self.supernet_recipe)
            ck = load_checkpoint(path)
            epochs = self.supernet_epochs
        info = {"supernet_epochs": epochs, "supernet_sharing": meta.get("sharing"),
                "supernet_recipe": meta.get("recipe", Recipe().to_dict()), "supernet_data": meta.get("data")}
        warning = chance_warning(ck.get("history", []), data.num_classes)
        if warning:
            info["supernet_warning"] = warning
        return net, path, info
