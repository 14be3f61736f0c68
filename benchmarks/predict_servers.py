"""Server processes and the HTTP load client for ``benchmarks/predict.py``.

Each server runs in its own session (process group), so stopping it stops its workers too.
The load client is wrk with a Lua script that sends the same POST body and headers.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A server process group with its log file; ``stop()`` is safe to call twice."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> "Server":
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it open)
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return self

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=grace)
        # Workers that outlived their parent still belong to the group.
        _signal_group(self.process.pid, signal.SIGKILL)

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with status {self.process.returncode}; "
                f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
            )


@dataclass
class Target:
    """A server to measure: how to start it, where it is ready, what to POST where, and a
    key its answer must have."""

    server: Server
    ready_url: str
    predict_url: str
    body: bytes
    headers: dict[str, str]
    answer_key: str


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def http_call(url: str, *, body: bytes | None = None, headers: dict | None = None, timeout=30):
    """(status, parsed JSON or text) of one request; an HTTP error status is returned, not
    raised."""
    request = urllib.request.Request(
        url, data=body, method="POST" if body is not None else "GET", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_ready(server: Server, url: str, *, timeout: float, interval: float = 0.02) -> float:
    """Poll ``url`` every ``interval`` s until it answers 200; return the seconds it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        server.check_alive()
        try:
            if http_call(url, timeout=5)[0] == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(interval)
    raise TimeoutError(f"{server.name} not ready at {url} after {timeout:.0f} s")


def write_wrk_script(path: Path, body: bytes, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body.decode())}"]
    for name, value in headers.items():
        # The spaces keep "[ [[" from reading as the start of a long string.
        lines.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _lua_string(text: str) -> str:
    # A long bracket string takes the text as is; pick a level the text does not contain.
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def run_wrk(url: str, script: Path, *, connections: int, seconds: float) -> dict:
    """One wrk run: ``-t1 -c1`` for one connection, else two threads."""
    threads = 1 if connections == 1 else 2
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    # A script wrk cannot run is only reported on stderr: wrk then sends GETs instead.
    if done.returncode != 0 or done.stderr.strip():
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> dict:
    """Requests per second, p50 and p99 in ms, request and error counts from ``wrk
    --latency``."""
    requests = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result = {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _latency_ms(output, "50"),
        "p99_ms": _latency_ms(output, "99"),
        "requests": int(requests.group(1)) if requests else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }
    result["errors"] = result["non_2xx"] + result["socket_errors"]
    return result


def _latency_ms(output: str, percentile: str) -> float | None:
    found = re.search(rf"^\s*{percentile}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    if found is None:
        return None
    return round(float(found.group(1)) * WRK_UNITS_MS[found.group(2)], 3)


def measure(url: str, script: Path, *, connections: int, seconds: float, warmup: float) -> dict:
    """A warm-up run (discarded), then the measured run."""
    if warmup > 0:
        run_wrk(url, script, connections=connections, seconds=warmup)
    return {
        "connections": connections,
        **run_wrk(url, script, connections=connections, seconds=seconds),
    }
