"""The benchmark's measurements, each against a running Service or a private server."""

import collections
import random
import statistics
import threading
import time

from bench import data
from bench.load import run_wrk
from leaderboard.awards import Award
from leaderboard.repository import USERS_PER_BUCKET, encode_member

# How long the worker may take to record the awards left after a load, before the
# benchmark gives up; the target is 5 s.
DRAIN_TIMEOUT_SECONDS = 60


def warm_up(url, mode, threads, connections, users):
    """Send load for 2 s so that every gunicorn worker has imported the app and connected to Redis."""
    run_wrk(url, mode, 2, threads, connections, users=users)


def sustained_awards(service, duration_seconds, threads, connections, users):
    """Send awards at full throughput while sampling the backlog every second, then time the drain.

    Returns a dict with the wrk result, the samples, the maximum backlog in awards and in
    seconds of awards, and the seconds from the end of the load until the database held
    every accepted award.
    """
    batch_size = service.settings["AWARD_BATCH_SIZE"]
    outcome = {}

    def load():
        outcome["wrk"] = run_wrk(service.url, "award", duration_seconds, threads, connections, users=users)

    loader = threading.Thread(target=load, name="bench-sustained-load")
    started = time.monotonic()
    loader.start()
    samples = []
    next_sample = started + 1
    while loader.is_alive():
        loader.join(max(0.0, next_sample - time.monotonic()))
        if not loader.is_alive():
            break
        next_sample += 1
        outbox, jobs = service.queue_backlog()
        # Read recorded before accepted, so the difference never undercounts the backlog.
        recorded = service.awards_recorded()
        accepted = service.awards_accepted()
        samples.append(
            {
                "second": round(time.monotonic() - started, 1),
                "outbox": outbox,
                "queued_jobs": jobs,
                "queue_backlog": outbox + jobs * batch_size,
                "unrecorded": accepted - recorded,
            }
        )
    if "wrk" not in outcome:
        raise RuntimeError("the sustained award load failed; see the wrk error above")
    drain_seconds = service.wait_until_recorded(DRAIN_TIMEOUT_SECONDS)
    result = outcome["wrk"]
    rate = result.requests_per_second
    max_queue_backlog = max((sample["queue_backlog"] for sample in samples), default=0)
    max_unrecorded = max((sample["unrecorded"] for sample in samples), default=0)
    return {
        "wrk": result,
        "samples": samples,
        "max_queue_backlog_awards": max_queue_backlog,
        "max_queue_backlog_seconds": max_queue_backlog / rate,
        "max_unrecorded_awards": max_unrecorded,
        "max_unrecorded_seconds": max_unrecorded / rate,
        "drain_seconds": drain_seconds,
        "awards_recorded": service.awards_recorded(),
    }


def worker_capacity(service, awards, users):
    """Put awards into the outbox in one transaction and return the awards/s the worker records them at.

    The web server is idle meanwhile, so this is the rate of one worker process alone.
    """
    service.wait_until_recorded(DRAIN_TIMEOUT_SECONDS)
    recorded_before = service.awards_recorded()
    user_ids = [random.randint(1, users) for _ in range(awards)]
    records = [Award.new(user_id, 1, "bench").to_record() for user_id in user_ids]
    per_user = collections.Counter(user_ids)
    repository = service.repository
    with service.redis.pipeline(transaction=True) as pipe:
        for start in range(0, len(records), 10_000):
            pipe.rpush(repository.outbox_key, *records[start : start + 10_000])
        # Keep the board's sum equal to the awards accepted, as the award script would.
        for user_id, count in per_user.items():
            pipe.zincrby(repository.board_key, -count, encode_member(user_id))
        pipe.execute()
    started = time.monotonic()
    seconds = service.wait_until_recorded(DRAIN_TIMEOUT_SECONDS + awards / 1000)
    recorded = service.awards_recorded() - recorded_before
    elapsed = time.monotonic() - started
    return {"awards": recorded, "seconds": seconds, "awards_per_second": recorded / elapsed}


def http_latency(url, mode, duration_seconds, users):
    """Return (p50, p99) in ms of one connection sending one request at a time."""
    result = run_wrk(url, mode, duration_seconds, 1, 1, users=users)
    if result.errors:
        raise RuntimeError(f"{result.errors} of {result.requests} {mode} requests to {url} failed")
    return result.latency_p50_ms, result.latency_p99_ms


def call_latency(repository, mode, samples, users):
    """Return (p50, p99) in ms of the repository's top(100) or standing() called in a loop, without HTTP."""
    if mode == "top":

        def call():
            repository.top(100)

    else:

        def call():
            repository.standing(random.randint(1, users))

    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    durations.sort()
    return statistics.median(durations) * 1000, durations[int(len(durations) * 0.99)] * 1000


def fill_board(repository, members, chunk_size=10_000):
    """Write members 1..members with random totals and usernames player<id>, in the repository's key layout."""
    client = repository.redis
    for start in range(1, members + 1, chunk_size):
        user_ids = range(start, min(start + chunk_size, members + 1))
        with client.pipeline(transaction=False) as pipe:
            pipe.zadd(repository.board_key, {encode_member(user_id): -random.randint(0, 10**6) for user_id in user_ids})
            buckets = collections.defaultdict(dict)
            for user_id in user_ids:
                buckets[user_id // USERS_PER_BUCKET][repository.names_field(user_id)] = f"player{user_id}"
            for bucket, names in buckets.items():
                pipe.hset(repository.names_key(bucket * USERS_PER_BUCKET), mapping=names)
            pipe.execute()


def redis_memory_per_member(repository, members):
    """Fill an empty board under repository's prefix with members and return the bytes of used_memory per member."""
    client = repository.redis
    if client.exists(repository.board_key):
        raise RuntimeError(f"{repository.board_key} already exists; the memory figure needs an empty prefix")
    before = client.info("memory")["used_memory"]
    started = time.monotonic()
    fill_board(repository, members)
    fill_seconds = time.monotonic() - started
    after = client.info("memory")["used_memory"]
    return {
        "members": members,
        "used_memory_before": before,
        "used_memory_after": after,
        "bytes_per_member": (after - before) / members,
        "board_bytes_per_member": client.memory_usage(repository.board_key, samples=0) / members,
        "encodings": {
            "board": client.object("encoding", repository.board_key).decode(),
            "names": client.object("encoding", repository.names_key(1)).decode(),
        },
        "fill_seconds": fill_seconds,
    }


def rebuild_times(service, rows, users):
    """Load rows log rows for users into the service's empty PostgreSQL database and time the rebuild commands."""
    started = time.monotonic()
    data.load_award_log(service.database, rows, users)
    load_seconds = time.monotonic() - started
    service.redis.flushdb()
    wall, reported = service.rebuild()
    members = service.redis.zcard(service.repository.board_key)
    service.redis.flushdb()
    wall_from_log, reported_from_log = service.rebuild(from_log=True)
    members_from_log = service.redis.zcard(service.repository.board_key)
    return {
        "rows": rows,
        "users": users,
        "load_seconds": load_seconds,
        "rebuild_seconds": wall,
        "rebuild_reported_seconds": reported,
        "rebuild_members": members,
        "from_log_seconds": wall_from_log,
        "from_log_reported_seconds": reported_from_log,
        "from_log_members": members_from_log,
    }
