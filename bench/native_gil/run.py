"""Do the native calls of restore release the GIL? One vs two threads, CPU vs wall.

    .venv/bin/python -m bench.native_gil.run [--sizes 36000,1048576] [--total-mib 300]

For each library the read path calls per chunk — AES-256-GCM (`cryptography`), zstd decompression
(`zstandard`), keyed BLAKE3 (`blake3`), with `hashlib`'s BLAKE2b and SHA-256 as references that
release the GIL above 2 KiB — the same number of calls runs on one thread, then split over two.
A call that holds the GIL gives a speed-up of 1 at best (cores used ≈ 1); a call that releases
it scales towards 2 when its native work is long enough for the hand-over of the GIL to be cheap
beside it. Each figure is the median of three runs. Run it under the machine-wide benchmark lock.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import threading
import time
from collections.abc import Callable

import blake3
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def calls(size: int) -> dict[str, Callable[[], object]]:
    """One call of each library on a `size`-byte input (half random, half text)."""
    text = b"patient dossier consultation ordonnance " * (size // 40 + 1)
    plain = os.urandom(size // 2) + text[: size - size // 2]
    key = os.urandom(32)
    aes, nonce = AESGCM(key), bytes(12)
    sealed = aes.encrypt(nonce, plain, b"aad")
    compressed = zstandard.ZstdCompressor(level=3).compress(plain)
    local = threading.local()

    def decompress() -> object:
        found = getattr(local, "zstd", None)
        if found is None:
            found = local.zstd = zstandard.ZstdDecompressor()
        return found.decompress(compressed, max_output_size=size)

    return {
        "AES-256-GCM open": lambda: aes.decrypt(nonce, sealed, b"aad"),
        "zstd decompress": decompress,
        "keyed BLAKE3": lambda: blake3.blake3(plain, key=key).digest(),
        "keyed BLAKE2b (hashlib)": lambda: hashlib.blake2b(plain, key=key).digest(),
        "SHA-256 (hashlib)": lambda: hashlib.sha256(plain).digest(),
    }


def timed(call: Callable[[], object], count: int, threads: int) -> tuple[float, float]:
    """Wall and CPU seconds for `count` calls split over `threads` threads."""

    def loop() -> None:
        for _ in range(count // threads):
            call()

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    cpu, wall = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="36000,1048576", help="input sizes in bytes")
    parser.add_argument("--total-mib", type=int, default=300, help="bytes per measure")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    print("| call | input | calls/s, 1 thread | calls/s, 2 threads | speed-up | cores used |")
    print("|---|---:|---:|---:|---:|---:|")
    for size in (int(value) for value in args.sizes.split(",")):
        count = max((args.total_mib << 20) // size, 8) // 2 * 2
        for name, call in calls(size).items():
            call()
            one = statistics.median(timed(call, count, 1)[0] for _ in range(3))
            runs = sorted(timed(call, count, 2) for _ in range(3))
            two, two_cpu = runs[1]
            print(f"| {name} | {size} | {count / one:,.0f} | {count / two:,.0f}"
                  f" | {one / two:.2f} | {two_cpu / two:.2f} |", flush=True)  # fmt: skip
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
