"""CPU time used by each part of the benchmark, and by everything else on the machine, from /proc.

A CPU-bound run on 2 cores serves about 2 core-seconds per second divided by the CPU time
that one request costs in all processes together. The CPU time per request of each part
therefore shows where a request's cost goes. The rest of the machine's busy time belongs to
processes the benchmark did not start, and when it is large, the figures of that step are
not comparable with other runs.
"""

import dataclasses
import os
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _process_table():
    """Return {pid: (parent pid, CPU seconds of the process and of its waited-for children)}."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        # The command name is in parentheses and may contain spaces, so split after it.
        fields = text.rsplit(")", 1)[1].split()
        parent = int(fields[1])
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        table[int(entry.name)] = (parent, (utime + stime + cutime + cstime) / TICKS_PER_SECOND)
    return table


def _tree_seconds(table, root):
    if root is None or root not in table:
        return 0.0
    children = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += table[pid][1]
        stack.extend(children.get(pid, []))
    return total


def _machine_seconds():
    """Return (busy, steal) CPU seconds of all CPUs since boot.

    Busy is user, nice and system time. Interrupt time is left out because the kernel
    charges it to no process, so it would count as load from other processes.
    """
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields[:8]
    return (user + nice + system) / TICKS_PER_SECOND, steal / TICKS_PER_SECOND


@dataclasses.dataclass(frozen=True)
class Snapshot:
    seconds_by_part: dict
    machine_busy: float
    steal: float


class CpuMeter:
    """Snapshots of CPU seconds per part: each part is a function that returns its root pid, or None."""

    def __init__(self, parts):
        self.parts = parts

    def snapshot(self):
        table = _process_table()
        seconds = {name: _tree_seconds(table, root()) for name, root in self.parts.items()}
        seconds["bench"] = _tree_seconds(table, os.getpid())
        busy, steal = _machine_seconds()
        return Snapshot(seconds, busy, steal)

    @staticmethod
    def usage(before, after, exclusive=("web", "worker", "redis")):
        """Return CPU seconds per part between two snapshots.

        "load" is the benchmark's own process tree without the exclusive parts started
        under it: the benchmark, wrk and the commands it runs. "other" is every process
        that the benchmark did not start.
        """
        used = {name: after.seconds_by_part[name] - before.seconds_by_part[name] for name in after.seconds_by_part}
        # A part that stopped between the snapshots has no tree left to read, so count 0, not a negative.
        used = {name: max(0.0, value) for name, value in used.items()}
        used["load"] = max(0.0, used.pop("bench") - sum(used.get(name, 0.0) for name in exclusive))
        ours = sum(used.values())
        used["other"] = max(0.0, (after.machine_busy - before.machine_busy) - ours)
        used["steal"] = after.steal - before.steal
        return used
