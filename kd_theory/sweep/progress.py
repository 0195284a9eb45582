"""Progress lines on stderr: one per finished chunk (runs done, runs/s, time left) and ticks inside
long chunks (the host reports the step reached between calls of the compiled ``advance``, which hold no
callback; printed at most every 5 s)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total_runs: int, enabled: bool, stream=sys.stderr):
        self.total, self.done, self.enabled, self.stream = total_runs, 0, enabled, stream
        self.t0 = time.perf_counter()

    def log(self, msg):
        if self.enabled:
            print(f"[sweep] {msg}", file=self.stream, flush=True)

    def chunk_done(self, n_runs: int, index: int, n_chunks: int):
        self.done += n_runs
        elapsed = time.perf_counter() - self.t0
        rate = self.done / max(elapsed, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        self.log(f"chunk {index}/{n_chunks} done: {self.done}/{self.total} runs, {rate:.2f} runs/s, "
                 f"elapsed {elapsed:.1f}s, about {left:.0f}s left")

    def ticker(self, job, total_steps: int):
        """The function the chunk's host loop calls with the step it reached (None: silent)."""
        if not self.enabled:
            return None
        last = [0, time.perf_counter()]

        def tick(step):
            step, now = int(step), time.perf_counter()
            # log at most every 5 s
            if step > last[0] and (now - last[1] >= 5.0 or step == total_steps):
                last[0], last[1] = step, now
                self.log(f"  chunk {job.chunk.index}: step {step}/{total_steps} "
                         f"({len(job.chunk.run_indices)} runs, {time.perf_counter() - self.t0:.1f}s)")
        return tick
