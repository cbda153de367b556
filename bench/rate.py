"""A fixed-rate (open-loop) HTTP load generator for award latency at a given throughput.

wrk sends a connection's next request only after the previous response, so a slow
response delays the requests behind it and hides their wait (coordinated omission).
wrk's delay() hook does not help against gunicorn's sync workers either: wrk connects
first and then waits, and a sync worker blocks on the idle connection it accepted.

This generator starts each request at its scheduled time on a new connection and sends the
whole request at once. It measures latency from the scheduled time to the end of the
response, so time spent queueing in the generator or the server counts. Each request
carries ``Connection: close``, which is what gunicorn's sync workers do anyway.
It runs in one Python process and uses about a third of a core at 1,000 requests/s.
"""

import asyncio
import dataclasses
import random

# Requests still unanswered this long after the schedule ends count as failed.
DRAIN_TIMEOUT_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class RateResult:
    target_rate: float
    sent: int
    completed: int
    failed: int
    duration_seconds: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    # How far behind its schedule the generator itself sent, at the 99th percentile.
    send_lag_p99_ms: float

    @property
    def completed_per_second(self):
        return self.completed / self.duration_seconds


def award_request(host, port, user_id):
    body = f'{{"user_id": {user_id}, "points": 1, "source": "bench"}}'.encode()
    head = (
        f"POST /api/leaderboard/award HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body


class _Exchange(asyncio.Protocol):
    """One request on one connection, closed by us as soon as the whole response is in.

    gunicorn's sync worker (version 27) half-closes after a response and then waits up
    to 2 s for the client to close. A client that waited for the server's close would
    hold the worker for one more turn of the client's event loop.
    """

    def __init__(self, payload, done):
        self.payload = payload
        self.done = done
        self.received = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.payload)

    def data_received(self, data):
        self.received += data
        header_end = self.received.find(b"\r\n\r\n")
        if header_end < 0:
            return
        length = 0
        for line in self.received[:header_end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.received) >= header_end + 4 + length:
            self._finish(self.received[9:10] == b"2")
            self.transport.close()

    def connection_lost(self, exc):
        # A response that ended early, or a reset, fails the request.
        self._finish(False)

    def _finish(self, ok):
        if not self.done.done():
            self.done.set_result(ok)


def _percentile(sorted_values, percent):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(len(sorted_values) * percent / 100))
    return sorted_values[index]


async def _run(host, port, rate, duration_seconds, users):
    loop = asyncio.get_running_loop()
    # Pre-build the requests so that the schedule is not slowed by formatting.
    payloads = [award_request(host, port, random.randint(1, users)) for _ in range(min(users, 10_000))]
    total = int(rate * duration_seconds)
    latencies = []
    lags = []
    failed = 0
    pending = set()

    async def exchange(payload, scheduled):
        nonlocal failed
        done = loop.create_future()
        try:
            await loop.create_connection(lambda: _Exchange(payload, done), host, port)
            ok = await done
        except OSError:
            ok = False
        if ok:
            latencies.append(loop.time() - scheduled)
        else:
            failed += 1

    start = loop.time() + 0.05
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(max(0.0, loop.time() - scheduled))
        task = loop.create_task(exchange(payloads[index % len(payloads)], scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    end_of_schedule = loop.time()
    if pending:
        _, late = await asyncio.wait(set(pending), timeout=DRAIN_TIMEOUT_SECONDS)
        for task in late:
            task.cancel()
        failed += len(late)
    latencies.sort()
    lags.sort()
    return RateResult(
        target_rate=rate,
        sent=total,
        completed=len(latencies),
        failed=failed,
        duration_seconds=end_of_schedule - start,
        latency_p50_ms=_percentile(latencies, 50) * 1000,
        latency_p90_ms=_percentile(latencies, 90) * 1000,
        latency_p99_ms=_percentile(latencies, 99) * 1000,
        latency_max_ms=(latencies[-1] if latencies else float("nan")) * 1000,
        send_lag_p99_ms=_percentile(lags, 99) * 1000,
    )


def run_fixed_rate(port, rate, duration_seconds, users=10_000, host="127.0.0.1"):
    """Send rate x duration_seconds award requests on schedule and return a RateResult.

    The run ends at most DRAIN_TIMEOUT_SECONDS after the last scheduled send.
    """
    return asyncio.run(_run(host, port, rate, duration_seconds, users))
