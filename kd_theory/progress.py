"""Progress of long loops on stderr, with elapsed time and time left (tqdm), for host loops and for loops
inside compiled programs (a ``jax.debug.callback`` every few percent of the steps).

    for level in progress.bar(levels, "noise levels"): ...
    params, _ = train_with_optax(..., progress=progress.step_reporter(steps, "teacher full"))
"""
from __future__ import annotations

import sys

TICKS = 20  # a compiled loop reports about every 1/TICKS of its steps


def bar(iterable=None, desc: str = "", total: int | None = None, enabled: bool = True, unit: str = "it"):
    """A tqdm bar on stderr (updated at most every 2 s; nothing at all when ``enabled`` is False)."""
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, total=total, disable=not enabled, file=sys.stderr, mininterval=2.0,
                unit=unit, dynamic_ncols=True, leave=True)


class StepReporter:
    """A callback ``reporter(step)`` for a compiled loop of ``total`` steps: moves a tqdm bar to ``step``.
    :meth:`every` is how often the loop should call it; :meth:`close` ends the bar."""

    def __init__(self, total: int, desc: str, enabled: bool = True):
        self.total = int(total)
        self.bar = bar(desc=desc, total=self.total, enabled=enabled, unit="step")

    @property
    def every(self) -> int:
        return max(1, self.total // TICKS)

    def __call__(self, step):
        step = int(step)
        if step > self.bar.n:
            self.bar.update(step - self.bar.n)
        if step >= self.total:
            self.close()

    def close(self):
        self.bar.close()


def step_reporter(total: int, desc: str, enabled: bool = True) -> StepReporter | None:
    """A :class:`StepReporter`, or None when disabled (a compiled loop then makes no callback at all)."""
    return StepReporter(total, desc) if enabled else None


def report_step(reporter, step):
    """Inside a compiled loop: call ``reporter(step + 1)`` on the host every ``reporter.every`` steps."""
    import jax
    if reporter is None:
        return
    done = step + 1
    jax.lax.cond(done % reporter.every == 0, lambda: jax.debug.callback(reporter, done), lambda: None)
