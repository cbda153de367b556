"""Run the whole benchmark: ``bench/run`` or ``.venv/bin/python -m bench``; see docs/benchmarks.md."""

import argparse
import dataclasses
import json
import logging
import os
import re
import shlex
import shutil
import tempfile
import time
from pathlib import Path

from bench import report
from bench.servers import REPO_ROOT
from bench.suite import PROFILES, Suite

log = logging.getLogger("bench")

RESULTS_DIR = REPO_ROOT / "bench" / "results"


def procfile_gunicorn_options():
    """Return the options of the Procfile's web command after the app, without --bind.

    ``${NAME:-default}`` is expanded from the environment, as the shell would.
    """
    procfile = (REPO_ROOT / "Procfile").read_text()
    web = re.search(r"^web:\s*gunicorn\s+\S+\s*(.*)$", procfile, re.MULTILINE)
    if web is None:
        raise RuntimeError("Procfile has no 'web: gunicorn APP ...' line to take the gunicorn options from")
    expanded = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda match: os.environ.get(match.group(1)) or match.group(2), web.group(1))
    options = []
    words = iter(shlex.split(expanded))
    for word in words:
        if word in ("--bind", "-b"):
            next(words, None)
        elif not word.startswith("--bind="):
            options.append(word)
    return options


def parse_args():
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default="full",
        help="full: the recorded run (about 6 minutes); quick: a smoke run of every step (about 1.5 minutes)",
    )
    parser.add_argument(
        "--gunicorn-options", default="",
        help="gunicorn options added to the Procfile's for both the service and the bare endpoint, "
        "e.g. '--worker-class gthread --threads 4'",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections of the full-throughput runs (default 8)")
    parser.add_argument(
        "--record", choices=("yes", "no", "auto"), default="auto",
        help="append the run to docs/benchmarks.md; auto records full runs only",
    )
    return parser.parse_args()


def jsonable(value):
    if dataclasses.is_dataclass(value):
        fields = dataclasses.asdict(value)
        if hasattr(value, "requests_per_second"):
            fields["requests_per_second"] = value.requests_per_second
        return fields
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args()
    gunicorn_options = procfile_gunicorn_options() + shlex.split(args.gunicorn_options)
    run_dir = Path(tempfile.mkdtemp(prefix="leaderboard-bench-"))
    log.info("profile %s, gunicorn options %s, logs in %s", args.profile, gunicorn_options, run_dir)
    try:
        suite = Suite(PROFILES[args.profile], gunicorn_options, args.threads, args.connections, run_dir)
        results = suite.run()
    except BaseException:
        log.error("benchmark failed; the logs of its servers are kept in %s", run_dir)
        raise
    facts = report.machine_facts(results["postgres_settings"]["server_version"], gunicorn_options)
    text = report.markdown(results, facts, report.command_line(), results["total_seconds"])
    print("\n" + text)

    RESULTS_DIR.mkdir(exist_ok=True)
    results_path = RESULTS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.profile}.json"
    results_path.write_text(json.dumps({"facts": facts, **jsonable(results)}, indent=2))
    log.info("raw results in %s", results_path)
    if args.record == "yes" or (args.record == "auto" and args.profile == "full"):
        report.append_to_docs(text)
        log.info("appended the run to %s", report.DOCS_PATH)
    shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
