"""``epnas``: EPNAS (Zhou et al., "EPNAS: Efficient Progressive Neural Architecture Search"), in hwnas's
fixed-depth spaces.

A policy network progressively *morphs* networks instead of generating them from scratch:

* **Network embedding**: each layer's choice token goes through a trainable embedding table, an LSTM with 32
  hidden units reads the layers in order, its last state embeds the network.
* **Scale LSTM** (128 units): one step per part -- a layer (default), or with ``parts=stage`` the layers of a
  stage -- choosing from a scale table that moves one search variable of every layer in the part one value up
  or down (kernel, expansion, width scale, bits;
  :meth:`SearchSpace.variables`) or keeps it.  Each step also reads the group's own tokens (their mean
  embedding), so that the action depends on what the group holds now, not only on the network's summary.
* **Insert LSTM** (128 units): inserts, removes or keeps a layer at a place -- in a fixed-depth space, insert
  turns a ``skip`` into a block (the op from an insert table) and remove turns a block into ``skip``, where
  the space allows a skip.  The place is drawn from a distribution over L + 5 values, as the paper's check
  table; places past the last layer (the paper's appending) do not exist at fixed depth and are masked.
  Each place's logit adds a score of that layer's own token.
* Every action that would produce no change or an invalid arch is masked before sampling.  Adam, lr 6e-4,
  weights uniform in [−0.1, 0.1] except the token embedding (N(0, 1): at U(−0.1, 0.1) the policy gave every
  input network the same distribution to three decimals).

REINFORCE over episodes: N branches (8) each apply T steps (5) from a seed network -- a named arch, random
satisfying archs, later the top N networks of the previous episode -- with the advantage
Σ_{t'≥t} r_{t'} − (T − t)·b(X_t), where b(X_t) is the reward of the network the action morphs (r(X_0) for the
first step, r_{t−1} after it: the return of a branch that stops improving, so each action is credited with what
it changes; ``baseline=moving``: a moving average of the per-step reward).  The reward is
r = accuracy · Π_i V(U_i) with V(U) = p^{max(max(0, U/Cu − 1), max(0, Cl/U − 1))} (:class:`ExponentialPenalty`):
any mix of model size, FLOPs, compute intensity (FLOPs/byte) and LUT latency, each with upper and lower bounds.
Episodes run until the evaluation budget is spent (1,000 networks by default, about the paper's 15 episodes of
8 x 10), or ``episodes`` of them.

Defaults that differ from the paper's, each chosen on the planted-optimum task (docs/benchmarks.md, "Planted
optimum"; the paper's values stay options):

* ``parts=layer`` (F = L parts, the paper's layer-by-layer search) with ``moves=2``: a prior on the scale and
  type heads' ``keep`` logits so that an untrained policy changes about two parts per step.  Without it every
  part draws a change at every step (a keep among 5 actions), so a step rewrites most of the network and
  the branches are random walks: stage-wise parts (``parts=stage``) moved every layer of a stage together
  and could not tune single layers.
* ``steps=5`` (the paper's module-search value; 10 for its layer-by-layer search): more episodes in the same
  budget, so the top-N selection between episodes happens more often.
* ``penalty_base=0.01`` (the paper: 0.9).  At 0.9 a network 50% over a bound keeps 95% of its reward, so
  wherever accuracy grows with cost by more than that -- as on the planted task, and on real data for small
  networks -- the reward's best network lies over the bound, the elite seeds drift over it and most
  evaluations are wasted on networks the hard bound then rejects.

Performance prediction: a candidate takes its weights from a global parameter dictionary keyed by (layer, op
type), its stem and head included -- on a clash the better model's parameters are kept; when shapes differ, the
closest entry is sliced or padded -- falling back to the supernet's weights, is trained for a few steps with a
large learning rate and batch, and is scored on the held-out split.  The result is the most accurate evaluated
arch that meets the hard bounds, with the actions that led to it.  Per episode: reward and baseline (``episodes.csv``,
``rewards.png``).  Resumes from ``epnas.pt`` at the last finished episode.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.constraints import ExponentialPenalty
from hwnas.errors import ArchError
from hwnas.plots import pyplot, save_figure
from hwnas.search.base import Strategy, register_strategy
from hwnas.search.options import Option
from hwnas.search.outputs import write_rows
from hwnas.search.supernet_eval import WeightOptimizer
from hwnas.space.arch import Arch, natural_key
from hwnas.space.base import SearchSpace
from hwnas.supernet.model import extract
from hwnas.supernet.train import accuracy, recalibrate_bn, to_cl

INSERT, REMOVE, KEEP = 0, 1, 2
EXTRA_PLACES = 5  # the paper's D_L has L + 5 values
DEFAULT_EVALUATIONS = 1000  # the budget when no episode count is given: about the paper's 15 x 8 x 10 networks


# -- the action space -----------------------------------------------------------------------------------

class ActionSpace:
    """Scale and insert actions of a space, their masks and their effect (each yields an arch of the space)."""

    def __init__(self, space: SearchSpace, parts: str = "stage") -> None:
        """``parts``: what one scale action moves together -- ``stage`` (the layers of a stage, the paper's
        "group of filters") or ``layer`` (F = L parts: each layer its own, the paper's layer-by-layer search)."""
        self.space = space
        self.layers = [tuple(layer.choices) for layer in space.layers]
        self.vars = [[space.variables(c) for c in ch] for ch in self.layers]
        names = sorted({k for vs in self.vars for v in vs for k in v} - {"block", "op"})
        self.values = {n: sorted({v[n] for vs in self.vars for v in vs if n in v}, key=natural_key) for n in names}
        self.scale_table: list[tuple[str, int]] = [(n, d) for n in names for d in (+1, -1)] + [("keep", 0)]
        # groups: the stages (layer names s{stage}b{block}), else blocks of four layers
        stages: dict[str, list[int]] = {}
        for i, layer in enumerate(space.layers):
            key = layer.name.split("b")[0] if layer.name.startswith("s") and "b" in layer.name else str(i // 4)
            stages.setdefault(str(i) if parts == "layer" else key, []).append(i)
        self.groups = list(stages.values())
        self.insert_table = sorted({c for ch in self.layers for c in ch if c != "skip"}, key=str)
        self.vocab = {c: i for i, c in enumerate(sorted({c for ch in self.layers for c in ch}))}
        self.places = len(self.layers) + EXTRA_PLACES

    def scaled(self, layer: int, choice: str, var: str, step: int) -> str:
        """``choice`` at ``layer`` with ``var`` moved ``step`` values, if that token exists there; else itself."""
        if var == "keep":
            return choice
        v = dict(self.vars[layer][self.layers[layer].index(choice)])
        if var not in v:
            return choice
        vals = self.values[var]
        j = vals.index(v[var]) + step
        if not 0 <= j < len(vals):
            return choice
        v[var] = vals[j]
        for c, cv in zip(self.layers[layer], self.vars[layer]):
            if cv == v:
                return c
        return choice

    def scale_mask(self, arch: Arch, group: int) -> torch.Tensor:
        """Scale actions that change at least one layer of ``group`` (keep is always allowed)."""
        return torch.tensor([var == "keep" or any(self.scaled(i, arch.choices[i], var, d) != arch.choices[i]
                                                   for i in self.groups[group])
                             for var, d in self.scale_table])

    def apply_scale(self, arch: Arch, group: int, action: int) -> Arch:
        var, d = self.scale_table[action]
        ch = list(arch.choices)
        for i in self.groups[group]:
            ch[i] = self.scaled(i, ch[i], var, d)
        return Arch(arch.space, tuple(ch))

    def type_mask(self, arch: Arch) -> torch.Tensor:
        return torch.tensor([bool(self.place_mask(arch, INSERT).any()), bool(self.place_mask(arch, REMOVE).any()),
                             True])

    def place_mask(self, arch: Arch, kind: int) -> torch.Tensor:
        m = torch.zeros(self.places, dtype=torch.bool)
        for i, (c, ch) in enumerate(zip(arch.choices, self.layers)):
            if kind == INSERT:
                m[i] = c == "skip" and any(o != "skip" for o in ch)
            elif kind == REMOVE:
                m[i] = c != "skip" and "skip" in ch
            else:
                m[i] = True
        return m

    def op_mask(self, place: int) -> torch.Tensor:
        return torch.tensor([o in self.layers[place] for o in self.insert_table])

    def apply_insert(self, arch: Arch, kind: int, place: int, op: int) -> Arch:
        if kind == KEEP:
            return arch
        return arch.replace(place, self.insert_table[op] if kind == INSERT else "skip")


# -- the policy -------------------------------------------------------------------------------------------

class EPNASPolicy(nn.Module):
    def __init__(self, actions: ActionSpace, emb: int = 32, net_hidden: int = 32, hidden: int = 128,
                 moves: float = 0.0) -> None:
        super().__init__()
        self.actions = actions
        self.embed = nn.Embedding(len(actions.vocab), emb)
        self.net_lstm = nn.LSTM(emb, net_hidden, batch_first=True)
        self.scale_lstm = nn.LSTMCell(net_hidden + emb, hidden)
        self.scale_head = nn.Linear(hidden, len(actions.scale_table))
        self.insert_lstm = nn.LSTMCell(net_hidden, hidden)
        self.type_head = nn.Linear(hidden, 3)
        self.place_head = nn.Linear(hidden, actions.places)
        self.place_token = nn.Linear(emb, 1)  # each layer's own token scores its place
        self.op_head = nn.Linear(hidden, len(actions.insert_table))
        for name, p in self.named_parameters():
            if not name.startswith("embed"):
                nn.init.uniform_(p, -0.1, 0.1)
        # ``moves``: the parts (the scaled groups, and the insert/remove decision) expected to change per step
        change = moves / (len(actions.groups) + 1) if moves else 1.0
        self.register_buffer("scale_prior", keep_prior(len(actions.scale_table), len(actions.scale_table) - 1, change))
        self.register_buffer("type_prior", keep_prior(3, KEEP, change))
        # the token embedding keeps PyTorch's N(0, 1) start: at U(-0.1, 0.1), as the paper initialises everything,
        # the LSTM's output barely depends on its input and different networks got the same action distribution

    def tokens(self, arch: Arch) -> torch.Tensor:
        """(layers, emb): each layer's choice token embedded."""
        return self.embed(torch.tensor([self.actions.vocab[c] for c in arch.choices]))

    def network_embedding(self, arch: Arch) -> torch.Tensor:
        _, (h, _) = self.net_lstm(self.tokens(arch)[None])
        return h[-1]  # (1, net_hidden)

    def scale_input(self, emb: torch.Tensor, tokens: torch.Tensor, group: int) -> torch.Tensor:
        """The scale LSTM's input at group ``group``: the network embedding and the group's own layers (their
        tokens' mean), so that what it scales depends on what the group holds now."""
        return torch.cat([emb, tokens[self.actions.groups[group]].mean(0, keepdim=True)], 1)

    def place_logits(self, state: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        per_layer = self.place_token(tokens)[:, 0]
        return self.place_head(state)[0] + torch.cat([per_layer, per_layer.new_zeros(EXTRA_PLACES)])

    @torch.no_grad()
    def first_scale_probs(self, arch: Arch) -> torch.Tensor:
        """The unmasked distribution of the first scale action for ``arch`` (what tests compare across networks)."""
        tok = self.tokens(arch)
        state = self.scale_lstm(self.scale_input(self.network_embedding(arch), tok, 0))
        return torch.softmax(self.scale_head(state[0])[0] + self.scale_prior, -1)

    #: the ablation of ``--opt actions=uniform``: the untrained prior alone (every unmasked action but keep
    #: equally likely; the policy's own logits are not used)
    uniform: bool = False

    def _pick(self, logits: torch.Tensor, mask: torch.Tensor, g: torch.Generator,
              forced: int | None = None, prior: torch.Tensor | None = None) -> tuple[int, torch.Tensor]:
        if self.uniform:
            logits = torch.zeros_like(logits.detach())
        if prior is not None:
            logits = logits + prior
        lp = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), -1)
        a = forced if forced is not None else int(torch.multinomial(lp.exp(), 1, generator=g))
        with torch.no_grad():
            p = lp.exp()
            self.last_entropy += float(-(p[mask] * lp[mask]).sum())
        return a, lp[a]

    def act(self, arch: Arch, g: torch.Generator,
            forced: list[int] | None = None) -> tuple[Arch, list[int], torch.Tensor]:
        """Sample one step's actions (``forced``: replay given actions) -> (new arch, actions, log π)."""
        acts = self.actions
        self.last_entropy = 0.0  # nats summed over this step's decisions (the policy's entropy, logged per episode)
        tok = self.tokens(arch)
        emb = self.network_embedding(arch)
        logp = torch.zeros(())
        taken: list[int] = []
        it = iter(forced) if forced is not None else None
        state = None
        cur = arch
        for f in range(len(acts.groups)):
            state = self.scale_lstm(self.scale_input(emb, tok, f), state)
            a, lp = self._pick(self.scale_head(state[0])[0], acts.scale_mask(cur, f), g, next(it) if it else None,
                               self.scale_prior)
            cur = acts.apply_scale(cur, f, a)
            taken.append(a)
            logp = logp + lp
        state = self.insert_lstm(emb)
        kind, lp = self._pick(self.type_head(state[0])[0], acts.type_mask(cur), g, next(it) if it else None,
                              self.type_prior)
        logp = logp + lp
        state = self.insert_lstm(emb, state)
        place, lp = self._pick(self.place_logits(state[0], self.tokens(cur)), acts.place_mask(cur, kind), g,
                               next(it) if it else None)
        logp = logp + lp
        op = 0
        if kind == INSERT:
            state = self.insert_lstm(emb, state)
            op, lp = self._pick(self.op_head(state[0])[0], acts.op_mask(place), g, next(it) if it else None)
            logp = logp + lp
        taken += [kind, place, op]
        return acts.apply_insert(cur, kind, place, op), taken, logp

    def describe_action(self, taken: list[int]) -> str:
        acts = self.actions
        parts = [f"group {f} {acts.scale_table[a][0]}{'+' if acts.scale_table[a][1] > 0 else '-'}"
                 for f, a in enumerate(taken[:len(acts.groups)]) if acts.scale_table[a][0] != "keep"]
        kind, place, op = taken[len(acts.groups):]
        if kind == INSERT:
            parts.append(f"insert {acts.insert_table[op]} at {self.actions.space.layers[place].name}")
        elif kind == REMOVE:
            parts.append(f"remove {self.actions.space.layers[place].name}")
        return "; ".join(parts) or "keep"


def keep_prior(actions: int, keep: int, change: float) -> torch.Tensor:
    """Logit offsets that give action ``keep`` probability 1 − ``change`` when the other actions are equally
    likely (``change`` >= (actions − 1) / actions: no offset)."""
    prior = torch.zeros(actions)
    if 0 < change < (actions - 1) / actions:
        prior[keep] = math.log((1 - change) * (actions - 1) / change)
    return prior


class Baseline:
    """b: an exponential moving average of the per-step reward."""

    def __init__(self, decay: float = 0.9) -> None:
        self.decay, self.value = decay, None

    def update(self, rewards: list[float]) -> float:
        mean = sum(rewards) / len(rewards)
        self.value = mean if self.value is None else self.decay * self.value + (1 - self.decay) * mean
        return self.value


def reinforce_loss(logps: list[list[torch.Tensor]], rewards: list[list[float]], b: float,
                   starts: list[float] | None = None) -> torch.Tensor:
    """−(1/N) Σ_n Σ_t log π(a_t,n) (Σ_{t'≥t} r_t',n − (T − t)·b(X_t,n)).  b(X_t) is ``b`` (a moving average), or,
    with ``starts`` (each branch's start reward), the reward of X_t itself: r(X_0) for the first action, r_{t−1}
    after it -- the return of a branch that stops improving, so an action is credited with what it changes."""
    total = torch.zeros(())
    for n, (lps, rs) in enumerate(zip(logps, rewards)):
        T = len(rs)
        for t, lp in enumerate(lps):
            here = b if starts is None else (starts[n] if t == 0 else rs[t - 1])
            total = total - lp * (sum(rs[t:]) - (T - t) * here)
    return total / len(logps)


# -- performance prediction ----------------------------------------------------------------------------

def fit_tensor(t: torch.Tensor, shape: torch.Size, pad_value: float = 0.0) -> torch.Tensor:
    """``t`` sliced or padded to ``shape``: leading indices of channel dims, centred for the spatial (kernel) dims
    2 and 3 of 4-D weights; padding with ``pad_value``."""
    out = torch.full(tuple(shape), pad_value, dtype=t.dtype)
    src, dst = [], []
    for d, (have, want) in enumerate(zip(t.shape, shape)):
        spatial = d >= 2 and t.dim() == 4
        n = min(have, want)
        s0 = (have - n) // 2 if spatial else 0
        d0 = (want - n) // 2 if spatial else 0
        src.append(slice(s0, s0 + n))
        dst.append(slice(d0, d0 + n))
    out[tuple(dst)] = t[tuple(src)]
    return out


def _pad_value(name: str, t: torch.Tensor) -> float:
    """BatchNorm's scale and running variance pad with 1 (a padded channel passes through), the rest with 0."""
    return 1.0 if name.endswith("running_var") or (name.endswith("weight") and t.dim() == 1) else 0.0


class ParamDict:
    """EPNAS's global parameter dictionary: (layer, op type) -> entries of unit parameters, one per shape set.
    On a clash (same key and shapes) the more accurate model's parameters are kept; a candidate whose shapes
    match no entry takes the closest one (fewest differing elements), sliced or padded."""

    def __init__(self) -> None:
        self.entries: dict[tuple[int, str], list[tuple[float, dict[str, torch.Tensor]]]] = {}

    def store(self, layer: int, op: str, state: dict[str, torch.Tensor], acc: float) -> None:
        shapes = {k: tuple(v.shape) for k, v in state.items()}
        bucket = self.entries.setdefault((layer, op), [])
        for i, (a, st) in enumerate(bucket):
            if {k: tuple(v.shape) for k, v in st.items()} == shapes:
                if acc > a:
                    bucket[i] = (acc, {k: v.detach().clone() for k, v in state.items()})
                return
        bucket.append((acc, {k: v.detach().clone() for k, v in state.items()}))

    def fetch(self, layer: int, op: str, shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor] | None:
        bucket = self.entries.get((layer, op))
        if not bucket:
            return None

        def distance(st: dict[str, torch.Tensor]) -> float:
            if set(st) != set(shapes):
                return math.inf
            return sum(abs(math.prod(st[k].shape) - math.prod(s)) for k, s in shapes.items())

        best = min(bucket, key=lambda e: distance(e[1]))[1]
        if math.isinf(distance(best)):
            return None
        return {k: fit_tensor(best[k], shapes[k], _pad_value(k, best[k])) for k in shapes}

    def state_dict(self) -> dict[str, Any]:
        return {f"{layer}|{op}": [[a, st] for a, st in bucket] for (layer, op), bucket in self.entries.items()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.entries = {(int(k.split("|")[0]), k.split("|", 1)[1]): [(float(a), dict(st)) for a, st in v]
                        for k, v in d.items()}


def dictionary_keys(space: Any, arch: Arch, units: list[nn.Module]) -> list[tuple[tuple[int, str], nn.Module]]:
    """Every unit of ``arch``'s network with its parameter-dictionary key: (layer, op type) for the searched
    layers, and (-1 - j, 'stem') / (layer count + j, 'head') for the fixed stem and head units, so that a candidate
    takes its stem and head from the same dictionary as its blocks (from the supernet, the fine-tuned blocks of
    an earlier candidate met an untuned stem and head)."""
    placed = [(i, space.choice_op(layer, c)) for i, (layer, c) in enumerate(zip(space.layers, arch.choices))]
    keys = ([(-1 - j, "stem") for j in range(len(space.stem))]
            + [(i, sig.type) for i, sig in placed if sig is not None]
            + [(len(space.layers) + j, "head") for j in range(len(space.head))])
    if len(keys) != len(units):
        raise ValueError(f"{len(units)} units for {len(keys)} dictionary keys")
    return list(zip(keys, units))


# -- the strategy ----------------------------------------------------------------------------------------

@register_strategy
class EPNASSearch(Strategy):
    """EPNAS: a REINFORCE policy (LSTMs) progressively scales / inserts / removes layers under soft penalties.

    N branches x T steps per episode from seed networks (named, random, then the previous episode's best);
    reward = accuracy x p^violation; candidates inherit from a (layer, op) parameter dictionary and the supernet,
    train briefly, and are scored on the held-out split."""

    name = "epnas"
    needs = ("supernet", "data", "cost")
    options = (Option("episodes", int, 0, "episodes (0: until the evaluation budget is spent; the paper ran 15 of "
                      "8 x 10 networks)", min=0),
               Option("branches", int, 8, "parallel branches N", min=1),
               Option("steps", int, 5, "steps T per branch and episode (the paper: 10 layer-by-layer, 5 for cells)",
                      min=1),
               Option("penalty_base", float, 0.01, "base penalty p of the soft constraints (the paper: 0.9; see the "
                      "module docstring)", min=0, max=1, aliases=("p",)),
               Option("policy_lr", float, 6e-4, "Adam learning rate of the policy", min=0, aliases=("lr",)),
               Option("parts", str, "layer", "what one scale action moves: 'layer' (each layer its own part, the "
                      "paper's layer-by-layer search) or 'stage' (every layer of a stage together)",
                      choices=("stage", "layer")),
               Option("baseline", str, "state", "b(X_t) of the advantage: 'state' (the reward of the network the "
                      "action morphs, X_t itself, as the paper writes it) or 'moving' (an average of past per-step "
                      "rewards)", choices=("moving", "state")),
               Option("baseline_decay", float, 0.9, "moving average of the baseline", min=0, max=1),
               Option("pp_steps", int, 5, "performance prediction: training steps per candidate (0: inherited "
                      "weights only)", min=0),
               Option("pp_batch_size", int, 256, "performance prediction: images per step", min=1,
                      aliases=("pp_batch",)),
               Option("pp_lr", float, 0.2, "performance prediction: learning rate (large, as the paper)", min=0),
               Option("moves", float, 2.0, "parts (scaled layers or groups, and the insert/remove decision) an "
                      "untrained policy changes per step: a prior toward keep (0: none, every action equally likely)",
                      min=0),
               Option("actions", str, "policy", "policy: the learned policy acts; uniform: the same loop with the "
                      "untrained prior (every unmasked action but keep equally likely) and no learning (the ablation "
                      "that shows what the policy adds)", choices=("policy", "uniform")))

    @classmethod
    def default_budget(cls, params: dict[str, Any]) -> int:
        if not params["episodes"]:
            return DEFAULT_EVALUATIONS
        return params["branches"] * (params["episodes"] * params["steps"] + 1)

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        p, ctx = self.params, self.context
        self.actions = ActionSpace(self.space, p["parts"])
        with torch.random.fork_rng():  # the policy's initial weights follow the search's seed, not torch's global RNG
            torch.manual_seed(self.seed)
            self.policy = EPNASPolicy(self.actions, moves=p["moves"])
        self.policy.uniform = p["actions"] == "uniform"
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=p["policy_lr"])
        self.baseline = Baseline(p["baseline_decay"])
        self.penalty = ExponentialPenalty(ctx.constraints, ctx.cost, p=p["penalty_base"])
        self.params_dict = ParamDict()
        self.gen = torch.Generator().manual_seed(self.seed)
        self.episode, self.episodes_log, self.search_wall = 0, [], 0.0
        self.seeds: list[str] = []
        self.lineage: dict[str, tuple[str, str]] = {}  # arch -> (parent arch, action that made it)
        self.rewards: dict[str, float] = {}

    # -- scoring -------------------------------------------------------------------------------------------
    def reward(self, arch: Arch, acc: float) -> float:
        return acc * self.penalty.from_metrics(self.hard.metrics(arch))[0] if self.hard else acc

    def predict_performance(self, arch: Arch) -> float:
        """Weights from the dictionary (else the supernet), a few large-lr steps, held-out accuracy; the trained
        parameters go back into the dictionary."""
        ctx, p = self.context, self.params
        net = extract(ctx.supernet, arch)
        keyed = dictionary_keys(ctx.supernet.space, arch, list(net.units))
        for (i, op), unit in keyed:
            st = self.params_dict.fetch(i, op, {k: v.shape for k, v in unit.state_dict().items()})
            if st is not None:
                unit.load_state_dict(st)
        if p["pp_steps"]:
            net.to(memory_format=torch.channels_last).train()
            opt = WeightOptimizer(net, p["pp_steps"], lr=p["pp_lr"])
            steps = 0
            while steps < p["pp_steps"]:
                for _, x, y in ctx.data.batches(p["pp_batch_size"], epoch=len(self.history) + steps, seed=self.seed):
                    opt.backward(F.cross_entropy(net(to_cl(x)), y))
                    opt.step()
                    steps += 1
                    if steps >= p["pp_steps"]:
                        break
        recalibrate_bn(net, ctx.data, batches=5)
        acc = accuracy(net, ctx.data.x_val, ctx.data.y_val)
        for (i, op), unit in keyed:
            self.params_dict.store(i, op, unit.state_dict(), acc)
        return acc

    def evaluate(self, arch: Arch, source: str) -> float:
        predict = self.context.known_accuracy or self.predict_performance
        acc = self.score(arch, source, evaluate=lambda: predict(arch))
        r = self.reward(arch, acc)
        self.rewards[str(arch)] = r
        return r

    # -- the search ----------------------------------------------------------------------------------------
    def initial_seeds(self) -> list[Arch]:
        """A named arch of the space (placed in its widths) if one meets the bounds, then random satisfying archs."""
        seeds: list[Arch] = []
        for name in self.space.named_archs:
            try:
                a = self.space.parse(name)
            except ArchError:  # it needs other space options (e.g. another depth)
                continue
            if self.ok(a):
                seeds.append(a)
                break
        while len(seeds) < self.params["branches"]:
            seeds.append(self.sample())
        return seeds[: self.params["branches"]]

    def search(self) -> None:
        p = self.params
        if not self.seeds:
            self.seeds = [str(a) for a in self.initial_seeds()]
        while not p["episodes"] or self.episode < p["episodes"]:
            t0 = time.time()
            evaluated = len(self.history)
            starts = [self.space.parse(s) for s in self.seeds]
            for a in starts:
                if str(a) not in self.rewards:
                    self.evaluate(a, f"episode {self.episode + 1} seed")
            logps, rewards, visited, entropies = [], [], [], []
            for n, start in enumerate(starts):
                cur, lps, rs = start, [], []
                for t in range(p["steps"]):
                    nxt, taken, lp = self.policy.act(cur, self.gen)
                    entropies.append(self.policy.last_entropy)
                    self.lineage.setdefault(str(nxt), (str(cur), self.policy.describe_action(taken)))
                    r = self.evaluate(nxt, f"episode {self.episode + 1} branch {n} step {t + 1}")
                    lps.append(lp)
                    rs.append(r)
                    visited.append(nxt)
                    cur = nxt
                logps.append(lps)
                rewards.append(rs)
            b = self.baseline.value if self.baseline.value is not None else 0.0
            state = [self.rewards[str(s)] for s in starts] if p["baseline"] == "state" else None
            loss = reinforce_loss(logps, rewards, b, state)
            if not self.policy.uniform:  # the ablation has nothing to learn
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
            flat = [r for rs in rewards for r in rs]
            b = self.baseline.update(flat)
            ranked = sorted({str(a) for a in visited} | set(self.seeds), key=lambda s: -self.rewards[s])
            self.seeds = ranked[: p["branches"]]
            self.search_wall += time.time() - t0
            self.episode += 1
            self.episodes_log.append({"episode": self.episode, "reward_mean": round(sum(flat) / len(flat), 5),
                                      "reward_max": round(max(flat), 5), "baseline": round(b, 5),
                                      "loss": round(float(loss.detach()), 5), "evaluated": len(self.history),
                                      "new_networks": len(self.history) - evaluated,
                                      "policy_entropy": round(sum(entropies) / len(entropies), 4),
                                      "best_reward_arch": self.seeds[0], "wall_s": round(self.search_wall, 2)})
            self.save()
            self.checkpoint()
            if len(self.history) == evaluated:  # every network of the episode was seen before: nothing new to learn
                return

    def action_path(self, arch: str) -> list[dict[str, str]]:
        """The actions from a seed network to ``arch``, oldest first."""
        path, cur, seen = [], arch, set()
        while cur in self.lineage and cur not in seen:
            seen.add(cur)
            parent, action = self.lineage[cur]
            path.append({"from": parent, "action": action, "to": cur})
            cur = parent
        return path[::-1]

    # -- outputs and resume ----------------------------------------------------------------------------------
    def extra_result(self) -> dict[str, Any]:
        best = self.best
        return {"epnas": {"episodes_done": self.episode, "evaluated": len(self.history), "converged": self.converged,
                          "search_wall_s": round(self.search_wall, 2),
                          "reward": self.rewards.get(best.arch) if best else None,
                          "actions_to_result": self.action_path(best.arch) if best else [],
                          "per_episode": "episodes.csv, rewards.png"}}

    def report(self) -> str:
        best = self.best
        n = len(self.action_path(best.arch)) if best else 0
        early = (" (it ended on an episode that met no network it had not seen: the policy has converged)"
                 if self.converged else "")
        return (f"{len(self.history)} sampled networks in {self.episode} episodes{early}, {self.search_wall:.1f} s "
                "search wall; "
                f"the result is {n} action(s) from its seed (result.yaml: actions_to_result)")

    @property
    def converged(self) -> bool:
        """The search ended on an episode that met no new network (the loop stops there, before its budget or
        its episode count)."""
        log = self.episodes_log
        return bool(log) and log[-1].get("new_networks", 1) == 0

    def write_outputs(self, out_dir: str) -> None:
        if not self.episodes_log:
            return
        write_rows(os.path.join(out_dir, "episodes.csv"), self.episodes_log)
        plt = pyplot()

        ep = [r["episode"] for r in self.episodes_log]
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.plot(ep, [r["reward_mean"] for r in self.episodes_log], marker="o", label="mean reward")
        ax.plot(ep, [r["reward_max"] for r in self.episodes_log], marker="^", label="best reward")
        ax.plot(ep, [r["baseline"] for r in self.episodes_log], ls="--", label="moving average of the reward")
        ax.set(xlabel="episode", ylabel="reward = accuracy x penalty", title="EPNAS: reward per episode")
        ax.legend(fontsize=8)
        save_figure(fig, os.path.join(out_dir, "rewards.png"), dpi=100)

    def save(self) -> None:
        self.save_checkpoint({"policy": self.policy.state_dict(), "opt": self.opt.state_dict(),
                              "baseline": self.baseline.value, "episode": self.episode, "log": self.episodes_log,
                              "wall": self.search_wall, "seeds": self.seeds, "gen": self.gen.get_state(),
                              "lineage": {k: list(v) for k, v in self.lineage.items()}, "rewards": self.rewards,
                              "params_dict": self.params_dict.state_dict()})

    def restore(self, ck: dict[str, Any]) -> None:
        self.policy.load_state_dict(ck["policy"])
        self.opt.load_state_dict(ck["opt"])
        self.baseline.value = ck["baseline"]
        self.episode, self.episodes_log, self.search_wall = int(ck["episode"]), list(ck["log"]), float(ck["wall"])
        self.seeds = list(ck["seeds"])
        self.gen.set_state(ck["gen"])
        self.lineage = {k: (v[0], v[1]) for k, v in ck["lineage"].items()}
        self.rewards = dict(ck["rewards"])
        self.params_dict.load_state_dict(ck["params_dict"])
