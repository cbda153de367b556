"""Fault: `flask leaderboard rebuild` runs while awards and reads keep coming.

A rebuild journals the awards that arrive while it runs and swaps the rebuilt board in
with one atomic script. So no award may be lost or doubled, and no read may see a board
that is missing members or points.
"""

import re
import threading
import time

import pytest

# The fault tests' fixtures (private servers, the service's processes, the award ledger)
# and helpers. The helpers' asserts are rewritten only if registered before the import.
pytest.register_assert_rewrite("tests.fault_support")
pytest_plugins = ["tests.fault_support"]

from tests.fault_support import assert_reconciled, assert_verify_clean, register_users  # noqa: E402

USER_COUNT = 150
WRITER_THREADS = 3
READER_THREADS = 2
REBUILDS = ["rebuild", "rebuild --from-log", "rebuild", "rebuild --from-log"]
# Upper bound on each traffic thread, in requests, in case the rebuilds hang.
MAX_REQUESTS_PER_THREAD = 20_000
JOURNALED = re.compile(r"(\d+) award\(s\) received during the rebuild")


class Traffic:
    """Writer threads that send awards and reader threads that read the whole board, until stopped."""

    def __init__(self, http, ledger):
        self.http = http
        self.ledger = ledger
        self.stopping = threading.Event()
        self.failed_awards = []
        self.failed_reads = []
        # One list of (monotonic time, total, entries, sum of scores) per reader thread.
        self.reads = [[] for _ in range(READER_THREADS)]
        self.threads = [threading.Thread(target=self.write, args=(index,)) for index in range(WRITER_THREADS)]
        self.threads += [threading.Thread(target=self.read, args=(index,)) for index in range(READER_THREADS)]

    def write(self, index):
        for count in range(MAX_REQUESTS_PER_THREAD):
            if self.stopping.is_set():
                return
            user_id = 1 + (index * 7919 + count * 31) % USER_COUNT
            status, body, _ = self.ledger.send(self.http, user_id, 1 + count % 9, source="live")
            if status != 202:
                self.failed_awards.append((status, body))

    def read(self, index):
        for _ in range(MAX_REQUESTS_PER_THREAD):
            if self.stopping.is_set():
                return
            status, page = self.http.get("/api/leaderboard?limit=1000")
            if status != 200:
                self.failed_reads.append((status, page))
                continue
            scores = sum(entry["score"] for entry in page["entries"])
            self.reads[index].append((time.monotonic(), page["total"], len(page["entries"]), scores))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)


def test_rebuild_under_live_traffic(fault_database, fault_redis, make_service, ledger):
    service = make_service(fault_redis.url(), fault_database.url).migrate()
    service.start_web(workers=3)
    service.start_worker()
    service.start_worker()
    user_ids = list(range(1, USER_COUNT + 1))
    register_users(service.http, user_ids)
    # Every user gets points first, so a whole board always has USER_COUNT members.
    assert {ledger.send(service.http, user_id, 100, source="seed")[0] for user_id in user_ids} == {202}
    service.wait_for_drain()

    rebuild_windows = []
    results = []
    with Traffic(service.http, ledger) as traffic:
        time.sleep(0.5)
        for command in REBUILDS:
            started = time.monotonic()
            results.append(service.cli(*command.split()))
            rebuild_windows.append((started, time.monotonic()))
            ledger.faults += 1
        time.sleep(0.5)

    assert [result.returncode for result in results] == [0] * len(REBUILDS)
    assert traffic.failed_awards == []
    assert traffic.failed_reads == []
    all_reads = [read for reads in traffic.reads for read in reads]
    assert min(total for _, total, _, _ in all_reads) == USER_COUNT
    cut_pages = [read for read in all_reads if read[2] != read[1]]
    assert cut_pages == []
    # All points are positive, so one reader's successive whole boards never lose points.
    shrinking = [
        (earlier, later)
        for reads in traffic.reads
        for earlier, later in zip(reads, reads[1:])
        if later[3] < earlier[3]
    ]
    assert shrinking == []
    reads_during_rebuilds = [
        read for read in all_reads if any(start <= read[0] <= end for start, end in rebuild_windows)
    ]
    assert len(reads_during_rebuilds) >= len(REBUILDS)
    journaled = [int(JOURNALED.search(result.stdout).group(1)) for result in results]
    ledger.notes.update(journaled=sum(journaled), reads=len(all_reads), reads_during_rebuilds=len(reads_during_rebuilds))
    # Awards arrived while the rebuilds held their journal, so the race was exercised.
    assert sum(journaled) > 0

    service.wait_for_drain(timeout=45)
    assert service.queue.failed_job_registry.count == 0
    assert_reconciled(ledger, fault_database, service.repository)
    assert_verify_clean(service)
