"""Soak test of the app: rounds of mixed /write requests from several gradio_client threads, then idle.

    python scripts/soak.py                                    # 14 rounds x 160 requests, 8 threads, TTL 30 s
    python scripts/soak.py --rounds 2 --per-round 40          # a quick look
    python scripts/soak.py --env REKOGAN_MALLOC_ARENAS=0 --env REKOGAN_TRIM_SECONDS=0   # glibc's defaults

Starts `python app.py` on a free loopback port with its own Gradio cache folder (GRADIO_TEMP_DIR,
removed afterwards) and REKOGAN_OUTPUT_TTL=--ttl. Each request is /write with a text of 1..500
syllables (log-uniform, so short and long ones both occur; spaces and newlines mixed in), a random
seed and psi, a random run and a random one of its epochs, or no epoch at all (the run's default).
After every round it prints the requests so far, errors, the server's RSS (VmRSS) and the cache
folder's size and file count; then it waits --idle seconds and prints the cache again (what the
TTL leaves). Exit status 1 when any request failed.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
from load_test import free_port, make_client, pct, rss_mb, wait_ready  # noqa: E402

SYLLABLES = "가나다라마바사아자차카타파하한글손씨오늘은날좋아서친구들과공원에갔습니다사랑해요고맙습니다"


def folder_size(path: Path) -> tuple[int, int]:
    """(bytes, files) under path."""
    total = files = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_size
                files += 1
            except OSError:
                pass
    return total, files


def random_text(rng: random.Random, max_len: int) -> str:
    n = max(1, min(max_len, int(math.exp(rng.uniform(0, math.log(max_len + 1))))))
    out = []
    for _ in range(n):
        out.append(rng.choice(SYLLABLES))
        r = rng.random()
        if r < 0.12:
            out.append(" ")
        elif r < 0.14:
            out.append("\n")
    return "".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=14)
    p.add_argument("--per-round", type=int, default=160)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--max-len", type=int, default=500, help="most syllables in one request")
    p.add_argument("--ttl", type=int, default=30, help="REKOGAN_OUTPUT_TTL for the app (seconds)")
    p.add_argument("--idle", type=float, default=60.0, help="seconds to wait after the last round")
    p.add_argument("--checkpoints", help="REKOGAN_CHECKPOINTS for the app")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for the app")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    a = p.parse_args()

    from rekogan.studio.registry import Registry
    registry = Registry(a.checkpoints)
    runs = {name: [e.epoch for e in r.epochs] for name, r in registry.runs().items()}
    if not runs:
        sys.exit(f"no runs under {registry.root}")
    cache = Path(tempfile.mkdtemp(prefix="rekogan-soak-cache-"))
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_TEMP_DIR=str(cache),
               GRADIO_ANALYTICS_ENABLED="False", REKOGAN_OUTPUT_TTL=str(a.ttl))
    if a.checkpoints:
        env["REKOGAN_CHECKPOINTS"] = str(Path(a.checkpoints).resolve())
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    tls = ssl.create_default_context()
    errors: Counter = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()
    try:
        started = wait_ready(url, proc, 240)
        load = os.getloadavg()[0]
        print(f"app {url} ready in {started:.1f} s; runs {', '.join(f'{k} ({len(v)} epochs)' for k, v in runs.items())}; "
              f"TTL {a.ttl} s; extra env {a.env or 'none'}; load average {load:.1f} on {os.cpu_count()} CPUs", flush=True)
        print(f"{'round':>5} {'requests':>8} {'errors':>6} {'RSS MB':>7} {'cache MB':>8} {'files':>6} "
              f"{'p50 ms':>7} {'p95 ms':>7} {'s':>6} {'load':>5}", flush=True)
        m0 = rss_mb(proc.pid)
        b, f = folder_size(cache)
        print(f"{'start':>5} {0:>8} {0:>6} {m0:>7.0f} {b / 2**20:>8.1f} {f:>6}", flush=True)

        def one(i: int):
            rng = random.Random(a.seed * 1_000_003 + i)
            if not hasattr(local, "client"):
                local.client = make_client(url, timeout=a.timeout, tls=tls)
            run = rng.choice(list(runs))
            text = random_text(rng, a.max_len)
            seed, psi = rng.randrange(2**31), round(rng.uniform(0, 1), 2)
            t = time.perf_counter()
            try:
                if rng.random() < 0.15:         # no epoch at all: the run's default (best) epoch
                    local.client.submit(text=text, seed=seed, truncation=psi, run=run,
                                        api_name="/write").result(timeout=a.timeout)
                else:
                    epoch = rng.choice(runs[run] + ["best", "last"])
                    local.client.submit(text, seed, psi, run, epoch, api_name="/write").result(timeout=a.timeout)
                with lock:
                    latencies.append(time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    errors[f"{type(e).__name__}: {str(e)[:100]}"] += 1

        total = 0
        with ThreadPoolExecutor(a.threads) as pool:
            for r in range(1, a.rounds + 1):
                t0 = time.perf_counter()
                n0 = len(latencies)
                list(pool.map(one, range(total, total + a.per_round)))
                total += a.per_round
                lat = latencies[n0:]
                b, f = folder_size(cache)
                print(f"{r:>5} {total:>8} {sum(errors.values()):>6} {rss_mb(proc.pid) or 0:>7.0f} {b / 2**20:>8.1f} "
                      f"{f:>6} {pct(lat, .5) * 1000 if lat else 0:>7.0f} {pct(lat, .95) * 1000 if lat else 0:>7.0f} "
                      f"{time.perf_counter() - t0:>6.1f} {os.getloadavg()[0]:>5.1f}", flush=True)
        step = 10.0
        waited = 0.0
        while waited < a.idle:
            time.sleep(min(step, a.idle - waited))
            waited = min(a.idle, waited + step)
            b, f = folder_size(cache)
            print(f"idle {waited:>4.0f} s: RSS {rss_mb(proc.pid) or 0:.0f} MB, cache {b / 2**20:.1f} MB in {f} files",
                  flush=True)
        if proc.poll() is not None:
            errors["server exited"] += 1
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        shutil.rmtree(cache, ignore_errors=True)
    tb = (err or "").count("Traceback")
    print(f"requests {total}, errors {sum(errors.values())}, server tracebacks {tb}")
    for msg, n in errors.most_common(5):
        print(f"  {n} x {msg}")
    sys.exit(1 if errors or tb else 0)


if __name__ == "__main__":
    main()
