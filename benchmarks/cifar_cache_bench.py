"""CIFAR-10 from an image-folder archive: the first call (stream, decode, write the cache) vs cached calls.

    python benchmarks/cifar_cache_bench.py                          # ../shared/data/cifar10/cifar10-jpeg.tar.gz
    python benchmarks/cifar_cache_bench.py --path=/data/cifar.tar.gz --repeats=5

The cache goes to a fresh temporary folder (removed afterwards), so the first call always decodes. Target:
a cached call well under a second (it reads the 184 MB of uint8 pixels and scales them to float32).
Last line: a JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from kd_theory import images  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=os.path.join(os.path.dirname(REPO), "shared", "data", "cifar10",
                                                       "cifar10-jpeg.tar.gz"))
    parser.add_argument("--repeats", type=int, default=3, help="cached calls to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kd-cifar-cache-") as cache:
        start = time.perf_counter()
        X, labels = images.cifar10_images(args.path, cache_dir=cache)
        first = time.perf_counter() - start
        print(f"first call : {first:7.2f} s  ({len(X)} images, decoded and cached)", flush=True)
        cached = []
        for _ in range(args.repeats):
            del X, labels
            start = time.perf_counter()
            X, labels = images.cifar10_images(args.path, cache_dir=cache)
            cached.append(time.perf_counter() - start)
            print(f"cached call: {cached[-1]:7.2f} s", flush=True)
    print(json.dumps({"path": args.path, "images": len(X), "first_s": round(first, 3),
                      "cached_s": [round(t, 3) for t in cached], "cpu_count": os.cpu_count(),
                      "load_average": [round(v, 2) for v in os.getloadavg()]}))


if __name__ == "__main__":
    main()
