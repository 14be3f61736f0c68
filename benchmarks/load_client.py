"""The load client of ``benchmarks/load.py`` and ``tests/e2e/test_load.py``: concurrent
predictions, API listings and training submissions against a running portal, every answer
checked, plus what ``/proc`` says about the portal's gunicorn workers.

Standard library only (asyncio over plain sockets, one connection per request, as gunicorn's
sync workers close each one), so the test suite can import it and the client costs the shared
CPUs little: about 0.3 ms of CPU per request.
"""

import asyncio
import contextlib
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

FAILURES_KEPT = 10  # the first failures of each kind are kept, word for word
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Call:
    """One request: what to send, and the status that counts as a success."""

    method: str
    path: str
    body: bytes = b""
    expect: int = 200


@dataclass
class Tally:
    """The answers to one kind of request: latencies of every answer, statuses, failures."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: int = 0

    def record(self, call: Call, seconds: float, status: int | None, problem: str = "") -> bool:
        """Count one answer; whether it was a success."""
        self.statuses[str(status) if status is not None else "no answer"] += 1
        if status is not None:
            self.latencies.append(seconds)
        ok = status == call.expect and not problem
        if not ok:
            self.errors += 1
            if len(self.failures) < FAILURES_KEPT:
                self.failures.append(f"{call.method} {call.path}: {status} {problem}".strip())
        return ok

    def summary(self, seconds: float) -> dict:
        found = {
            "requests": sum(self.statuses.values()),
            "errors": self.errors,
            "statuses": dict(self.statuses),
            "per_second": round(len(self.latencies) / seconds, 1) if seconds else None,
        }
        if self.latencies:
            found.update(latency_ms(self.latencies))
        if self.failures:
            found["failures"] = self.failures
        return found


def latency_ms(latencies: list[float]) -> dict:
    """p50, p90, p99 and max of ``latencies`` (seconds), in milliseconds."""
    ordered = sorted(latencies)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else None

    def ms(value: float) -> float:
        return round(value * 1000, 2)

    if cuts is None:
        return {"p50_ms": ms(ordered[0]), "p90_ms": ms(ordered[0]), "p99_ms": ms(ordered[0])}
    return {
        "p50_ms": ms(cuts[49]),
        "p90_ms": ms(cuts[89]),
        "p99_ms": ms(cuts[98]),
        "max_ms": ms(ordered[-1]),
    }


class Portal:
    """Where the portal listens, and the headers every request carries (the token)."""

    def __init__(self, base_url: str, token: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    async def send(self, call: Call) -> tuple[int, bytes]:
        """(status, body) of one request on a new connection; raises OSError, TimeoutError
        or ValueError (an answer that is not HTTP, or cut short)."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), TIMEOUT_S
        )
        try:
            lines = [
                f"{call.method} {call.path} HTTP/1.1",
                f"Host: {self.host}:{self.port}",
                "Connection: close",
                f"Content-Length: {len(call.body)}",
                *(f"{name}: {value}" for name, value in self.headers.items()),
            ]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + call.body)
            raw = await asyncio.wait_for(reader.read(), TIMEOUT_S)  # until the server closes
        finally:
            writer.close()
        return parse_answer(raw)


def parse_answer(raw: bytes) -> tuple[int, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP answer ({len(raw)} bytes)")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    elif "content-length" in headers and int(headers["content-length"]) != len(body):
        raise ValueError(f"answer cut short: {len(body)} of {headers['content-length']} bytes")
    return status, body


def _unchunk(body: bytes) -> bytes:
    out, rest = bytearray(), body
    while True:
        size_line, sep, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16) if sep else -1
        if size < 0 or len(rest) < size:
            raise ValueError("chunked answer cut short")
        if size == 0:
            return bytes(out)
        out += rest[:size]
        rest = rest[size + 2 :]


@dataclass
class Plan:
    """A mixed load: ``clients`` predicting without pause for ``seconds`` (and on, up to
    ``max_seconds``, until ``min_predictions`` were sent), ``listers`` listing in turn the
    ``listings`` meanwhile, and the ``submissions`` sent one by one, spread evenly over
    ``seconds``. ``milestones`` maps a count of predictions to a callback run when it is
    reached (reading the workers' memory, say)."""

    predict: Call
    seconds: float
    clients: int
    min_predictions: int = 0
    max_seconds: float | None = None  # None: three times ``seconds``
    listers: int = 0
    listings: tuple[Call, ...] = ()
    submissions: tuple[Call, ...] = ()
    milestones: dict[int, Callable[[int], None]] = field(default_factory=dict)
    check_prediction: Callable[[bytes], str] | None = None  # "" when the answer is right

    def going(self, predictions: int, elapsed: float) -> bool:
        if elapsed < self.seconds:
            return True
        limit = self.max_seconds if self.max_seconds is not None else 3 * self.seconds
        return predictions < self.min_predictions and elapsed < limit


@dataclass
class Result:
    predict: Tally = field(default_factory=Tally)
    listing: Tally = field(default_factory=Tally)
    submit: Tally = field(default_factory=Tally)
    submitted: list[bytes] = field(default_factory=list)  # the 202 answers' bodies
    predictions: int = 0
    seconds: float = 0.0
    finished: bool = False  # the predictions have ended: the listers stop too

    @property
    def errors(self) -> int:
        return self.predict.errors + self.listing.errors + self.submit.errors

    def summary(self) -> dict:
        return {
            "seconds": round(self.seconds, 2),
            "errors": self.errors,
            "predict": self.predict.summary(self.seconds),
            "listing": self.listing.summary(self.seconds),
            "submit": self.submit.summary(self.seconds),
        }


async def _timed(portal: Portal, call: Call, tally: Tally, check=None) -> tuple[bool, bytes]:
    started = time.perf_counter()
    try:
        status, body = await portal.send(call)
    except (OSError, TimeoutError, ValueError) as exc:
        tally.record(call, time.perf_counter() - started, None, f"{type(exc).__name__}: {exc}")
        return False, b""
    elapsed = time.perf_counter() - started
    problem = check(body) if check is not None and status == call.expect else ""
    if status != call.expect:
        problem = body[:200].decode(errors="replace")
    return tally.record(call, elapsed, status, problem), body


async def _predictor(portal: Portal, plan: Plan, result: Result, started: float) -> None:
    while plan.going(result.predictions, time.perf_counter() - started):
        await _timed(portal, plan.predict, result.predict, plan.check_prediction)
        result.predictions += 1
        callback = plan.milestones.get(result.predictions)
        if callback is not None:
            callback(result.predictions)


async def _lister(portal: Portal, plan: Plan, result: Result, n: int) -> None:
    while not result.finished:
        await _timed(portal, plan.listings[n % len(plan.listings)], result.listing)
        n += 1


async def _submitter(portal: Portal, plan: Plan, result: Result, started: float) -> None:
    step = plan.seconds / (len(plan.submissions) + 1)
    for number, call in enumerate(plan.submissions, start=1):
        await asyncio.sleep(max(0.0, started + number * step - time.perf_counter()))
        ok, body = await _timed(portal, call, result.submit)
        if ok:
            result.submitted.append(body)


async def run(portal: Portal, plan: Plan) -> Result:
    """Run ``plan`` against ``portal``; every answer is counted, none raises."""
    result = Result()
    started = time.perf_counter()
    others = [
        asyncio.create_task(_lister(portal, plan, result, n))
        for n in range(plan.listers if plan.listings else 0)
    ]
    if plan.submissions:
        others.append(asyncio.create_task(_submitter(portal, plan, result, started)))
    await asyncio.gather(*(_predictor(portal, plan, result, started) for _ in range(plan.clients)))
    result.seconds = time.perf_counter() - started
    result.finished = True
    await asyncio.gather(*others)
    return result


# --- the gunicorn workers, from /proc ------------------------------------------------------


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (a gunicorn master's workers), by pid."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdecimal():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if _stat_fields(int(entry.name))[1] == str(pid):
                    found.append(int(entry.name))
    return sorted(found)


def rss_kib(pid: int) -> int:
    """Resident memory of a live process now (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for process {pid}")


def pss_kib(pid: int) -> int:
    """Proportional resident memory of a live process (Pss), in KiB: pages shared with other
    processes (TensorFlow's libraries, say) count for a share each, so the sum over processes
    is what they take together."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise ValueError(f"no Pss for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a live process has used."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (every CPU, every process), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces): state, ppid, ..."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


# How much a warm web worker's RSS may grow from one count of predictions to a count ten times
# larger. What a worker holds is mostly fixed once it has served its first requests
# (TensorFlow and the model, ~0.9 GB); what may still grow is bounded by settings: the
# prediction log's buffer (PREDICTION_LOG_BUFFER rows, emptied every 0.2 s), the serving
# caches (SERVE_CACHE_SECONDS), the throttle's leases, a module imported on a first listing or
# submission, and the allocator's arenas: a few MB at most. 5 % (about 45 MB) leaves room for
# that and still catches a leak of 10 KB per request within 9,000 requests over two workers.
RSS_BOUND = 0.05


class MemoryWatch:
    """VmRSS of a set of processes at named moments; a process gone counts as a failure."""

    def __init__(self, pids: list[int]):
        self.pids = list(pids)
        self.samples: dict[str, dict[int, int]] = {}
        self.lost: list[int] = []

    def sample(self, moment: str) -> None:
        taken = {}
        for pid in self.pids:
            try:
                taken[pid] = rss_kib(pid)
            except (OSError, ValueError):
                if pid not in self.lost:
                    self.lost.append(pid)
        self.samples[moment] = taken

    def growth(self, before: str, after: str) -> dict[int, float]:
        """Each process's RSS at ``after`` over its RSS at ``before``, minus 1."""
        first, second = self.samples[before], self.samples[after]
        return {pid: second[pid] / first[pid] - 1 for pid in first if pid in second}

    def over(self, before: str, after: str, bound: float) -> list[str]:
        """The processes that grew by more than ``bound`` (0.15: 15 %), or disappeared."""
        found = [f"process {pid} exited or was replaced" for pid in self.lost]
        for pid, grew in self.growth(before, after).items():
            if grew > bound:
                found.append(f"process {pid}: RSS +{grew:.1%} from {before} to {after}")
        return found
