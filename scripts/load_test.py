"""Loopback load test of the app's /write endpoint: N concurrent gradio_client sessions x M requests.

    python scripts/load_test.py                               # starts `python app.py` on a free port
    python scripts/load_test.py --checkpoints /tmp/runs       # ... with REKOGAN_CHECKPOINTS=/tmp/runs
    python scripts/load_test.py --url http://127.0.0.1:7860/ --pid 1234   # an app already running
    python scripts/load_test.py --run fixed --size 256 --natural 0.45      # the Write tab's Size and Natural

Without --size / --natural the requests leave them out (the app's defaults, conventions.DEFAULT_GLYPH_SIZE
and NATURAL_DEFAULT, apply); with either, both are sent (the other at its default).

Every session is its own gradio_client.Client (its own connection and queue session). All sessions
connect first (each Client fetches the app's config), then start together at a barrier; each sends
--requests /write calls one after another (a different seed each time). Reports successes,
p50/p95/max latency of those requests, throughput, the connect times, the server's CPU time per
request (/proc/PID/stat utime+stime, children included, over the timed part; the connects and the
warm-up request are outside it), the load generator's own CPU time per request (it shares the
cores) and the server's resident memory (VmRSS) before, at peak and after.

The load generator shares the 2 cores with the server, so its own CPU cost counts against the
server's latency. One thing is trimmed: gradio_client opens a new httpx client for every request,
and with the default `ssl_verify=True` each one builds a TLS context by loading the CA bundle
(about a third of the load generator's CPU here, for a plain-HTTP loopback URL). All sessions pass
one shared ssl.SSLContext instead (`--no-shared-tls` restores the default).

Loopback only: any other host is refused. Bounded: per-request and overall timeouts; a
server this script started is always stopped.
"""
from __future__ import annotations

import argparse
import os
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TEXT = "오늘은 날씨가 좋아서 친구들과 공원에 갔습니다"


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process and its children (MB), from /proc; None where unavailable."""
    if not pid:
        return None
    total, pids = 0, [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            if p == pid:
                return None
    return total / 1024


def cpu_seconds(pid: int | None) -> tuple[float, float] | None:
    """(user, system) CPU seconds the process has used, its waited-for children's included
    (/proc/PID/stat utime + cutime, stime + cstime); None where unavailable."""
    if not pid:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()       # after "(comm)": the name may hold spaces
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])   # fields 14..17 of proc(5)
    tick = os.sysconf("SC_CLK_TCK")
    return (utime + cutime) / tick, (stime + cstime) / tick


def own_cpu_seconds() -> float:
    """CPU time (user + system) of this process, all its threads: what the load generator costs."""
    t = os.times()
    return t.user + t.system


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen | None, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            sys.exit(f"app.py exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} not ready within {timeout:.0f} s")


def start_app(checkpoints: str | None, timeout: float) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False")
    if checkpoints:
        env["REKOGAN_CHECKPOINTS"] = str(Path(checkpoints).resolve())
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    return proc, url, wait_ready(url, proc, timeout)


def pick_run(client, run: str | None, epoch) -> tuple[str, object]:
    """The run to write with: --run, else the app's right-hand default ('fixed' when there is one)."""
    if run:
        return run, epoch
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/compare"]
    params = {p["parameter_name"]: p for p in info["parameters"]}
    default = params["run_right"].get("parameter_default")
    if not default:
        sys.exit("the app lists no runs; pass --checkpoints DIR (a folder of runs) or --run NAME")
    return default, epoch


def make_client(url: str, *, timeout: float, tls):
    from gradio_client import Client
    kw = {} if tls is None else {"ssl_verify": tls}
    return Client(url, verbose=False, analytics_enabled=False, httpx_kwargs={"timeout": timeout},
                  download_files=False, **kw)


def session(url: str, n: int, *, sid: int, run: str, epoch, timeout: float, text: str, tls,
            start: threading.Barrier, stop: threading.Event, connect: list, extra: tuple = ()
            ) -> list[tuple[bool, float, str]]:
    out = []
    t = time.perf_counter()
    try:
        client = make_client(url, timeout=timeout, tls=tls)
        connect.append(time.perf_counter() - t)
    except Exception as e:  # noqa: BLE001 - reported, not raised
        client, err = None, f"connect: {type(e).__name__}: {e}"
    try:
        start.wait(timeout)  # every session is connected: the timed requests start together
    except threading.BrokenBarrierError:
        pass
    if client is None:
        return [(False, 0.0, err)] * n
    for i in range(n):
        if stop.is_set():
            out.append((False, 0.0, "overall timeout"))
            continue
        t = time.perf_counter()
        try:
            client.submit(text, sid * 1000 + i, 0.8, run, epoch, *extra, api_name="/write").result(timeout=timeout)
            out.append((True, time.perf_counter() - t, ""))
        except Exception as e:  # noqa: BLE001
            out.append((False, time.perf_counter() - t, f"{type(e).__name__}: {str(e)[:120]}"))
    try:
        client.close()
    except Exception:  # noqa: BLE001
        pass
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="an app already running on loopback (default: start one)")
    p.add_argument("--pid", type=int, help="that app's process id, for its memory figures")
    p.add_argument("--checkpoints", help="REKOGAN_CHECKPOINTS for the app this script starts")
    p.add_argument("--sessions", type=int, default=32)
    p.add_argument("--requests", type=int, default=10, help="requests per session")
    p.add_argument("--run", help="run to write with (default: the app's default right-hand run)")
    p.add_argument("--epoch", default="best")
    p.add_argument("--text", default=TEXT)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--overall-timeout", type=float, default=900.0, help="seconds for the whole test")
    p.add_argument("--start-timeout", type=float, default=180.0)
    p.add_argument("--size", type=int, choices=(64, 128, 256), help="px per glyph (default: the app's)")
    p.add_argument("--natural", type=float, help="0..1 (default: the app's)")
    p.add_argument("--no-shared-tls", action="store_true",
                   help="let gradio_client build a TLS context per request (its default; costs client CPU)")
    a = p.parse_args()
    extra = ()
    if a.size is not None or a.natural is not None:    # weight 0, no writer code, then size and natural
        sys.path.insert(0, str(ROOT))
        from rekogan.conventions import DEFAULT_GLYPH_SIZE, NATURAL_DEFAULT
        extra = (0.0, "", a.size or DEFAULT_GLYPH_SIZE, NATURAL_DEFAULT if a.natural is None else a.natural)

    proc = None
    if a.url:
        host = urlparse(a.url).hostname
        if host not in LOOPBACK:
            sys.exit(f"refusing {a.url}: this load test only talks to loopback ({', '.join(sorted(LOOPBACK))})")
        url, pid, started = a.url, a.pid, None
        wait_ready(url, None, a.start_timeout)
    else:
        proc, url, started = start_app(a.checkpoints, a.start_timeout)
        pid = proc.pid
    tls = None if a.no_shared_tls else ssl.create_default_context()
    try:
        probe = make_client(url, timeout=a.timeout, tls=tls)
        run, epoch = pick_run(probe, a.run, a.epoch)
        probe.submit(a.text, 0, 0.8, run, epoch, *extra, api_name="/write").result(timeout=a.timeout)   # load the model
        time.sleep(0.5)
        rss_before = rss_mb(pid)
        peak = [rss_before or 0.0]
        stop, done = threading.Event(), threading.Event()

        def monitor():
            while not done.wait(0.25):
                m = rss_mb(pid)
                if m:
                    peak[0] = max(peak[0], m)

        threading.Thread(target=monitor, daemon=True).start()
        timer = threading.Timer(a.overall_timeout, stop.set)
        timer.start()
        results, connect = [], []
        start = threading.Barrier(a.sessions + 1)
        with ThreadPoolExecutor(a.sessions) as pool:
            futs = [pool.submit(session, url, a.requests, sid=s, run=run, epoch=epoch, timeout=a.timeout,
                                text=a.text, tls=tls, start=start, stop=stop, connect=connect, extra=extra)
                    for s in range(a.sessions)]
            try:
                start.wait(a.overall_timeout)
            except threading.BrokenBarrierError:
                pass
            cpu_before = cpu_seconds(pid)         # every session is connected: only the timed requests count
            own_before = own_cpu_seconds()
            t0 = time.perf_counter()
            for f in as_completed(futs):
                results += f.result()
        wall = time.perf_counter() - t0
        cpu_after = cpu_seconds(pid)
        own = own_cpu_seconds() - own_before
        timer.cancel()
        done.set()
        rss_after = rss_mb(pid)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    ok = [t for s, t, _ in results if s]
    errors = Counter(msg for s, _, msg in results if not s)
    total = a.sessions * a.requests
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"app {url} (run {run!r}, epoch {epoch!r})" + (f", started in {started:.1f} s" if started else ""))
    asked = f"size {extra[2]}, natural {extra[3]:g}" if extra else "the app's default size and natural"
    print(f"{a.sessions} sessions x {a.requests} requests to /write ({asked}), {len(a.text)}-character text; "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    if connect:
        print(f"connect   {len(connect)} sessions, median {statistics.median(connect) * 1000:.0f} ms, "
              f"max {max(connect) * 1000:.0f} ms (before the timed requests)")
    print(f"TLS context: {'per request (gradio_client default)' if a.no_shared_tls else 'one, shared'}")
    print(f"successes {len(ok)}/{total} in {wall:.1f} s ({len(ok) / wall:.1f} req/s)")
    if ok:
        print(f"latency   p50 {statistics.median(ok) * 1000:.0f} ms   p95 {pct(ok, 0.95) * 1000:.0f} ms   "
              f"max {max(ok) * 1000:.0f} ms")
    if cpu_before is not None and cpu_after is not None and results:
        user, system = (after - before for after, before in zip(cpu_after, cpu_before))
        cpu, n = user + system, len(results)
        print(f"server CPU {cpu:.1f} s for {n} requests: {cpu / n * 1000:.0f} ms per request "
              f"(user {user / n * 1000:.0f} + system {system / n * 1000:.0f}, children included; "
              f"{cpu / wall:.2f} of {os.cpu_count()} cores)")
    else:
        print("server CPU n/a (no pid: pass --pid with --url)")
    if results:
        print(f"load generator CPU {own / len(results) * 1000:.0f} ms per request (this process, on the same cores)")
    fmt = (lambda m: f"{m:.0f} MB" if m else "n/a")
    print(f"server RSS before {fmt(rss_before)}   peak {fmt(peak[0])}   after {fmt(rss_after)}")
    for msg, n in errors.most_common(5):
        print(f"  {n} x {msg}")
    sys.exit(0 if len(ok) == total else 1)


if __name__ == "__main__":
    main()
