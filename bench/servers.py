"""Private Redis and PostgreSQL servers and the service's processes, started and stopped by the benchmark.

Every server listens on 127.0.0.1 on a free port with its data in the run's temporary
directory, so the benchmark never touches a shared Redis or PostgreSQL.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout_seconds, interval_seconds=0.05, what="condition"):
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_seconds)
    raise TimeoutError(f"timed out after {timeout_seconds}s waiting for {what}")


class RedisServer:
    """A redis-server without persistence, as its ceiling and the service's store."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found; install the redis-server package")
        command = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)

        def ready():
            try:
                return client.ping()
            except redis.exceptions.ConnectionError:
                return False

        wait_until(ready, 10, what=f"redis-server on port {self.port}")
        client.close()
        return self

    @property
    def pid(self):
        return self.process.pid

    def flushall(self):
        client = redis.Redis(port=self.port)
        client.flushall()
        client.close()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class PostgresCluster:
    """A private PostgreSQL cluster made with initdb, with the durability settings left at their defaults."""

    def __init__(self):
        # Its own directory, because the server runs as the postgres user when we are root
        # and must be able to enter it.
        self.directory = Path(tempfile.mkdtemp(prefix="leaderboard-bench-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.bin = self._find_bin()
        self._run_as = []
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            shutil.chown(self.directory, "postgres", "postgres")
            self._run_as = ["runuser", "-u", "postgres", "--"]

    @staticmethod
    def _find_bin():
        for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (candidate / "initdb").exists():
                return candidate
        initdb = shutil.which("initdb")
        if initdb is None:
            raise RuntimeError("initdb not found; install the postgresql package")
        return Path(initdb).parent

    def _run(self, *command):
        return subprocess.run(self._run_as + list(command), check=True, capture_output=True)

    def url(self, database):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self):
        """Return the postmaster's pid, or None when the server is not running."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    def start(self):
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory}"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.directory / "postgres.log"), "-w", "start",
        )
        return self

    def stop(self):
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def create_database(self, name):
        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url(name)

    def settings(self, names):
        """Return {name: value} of the server settings named."""
        connection = psycopg2.connect(self.url("postgres"))
        with connection.cursor() as cursor:
            values = {}
            for name in names:
                cursor.execute("SELECT current_setting(%s)", (name,))
                values[name] = cursor.fetchone()[0]
        connection.close()
        return values


class ServiceProcess:
    """gunicorn or the RQ worker, run from the repository root in a session of its own."""

    def __init__(self, command, env, log_path):
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @classmethod
    def gunicorn(cls, app, port, gunicorn_options, env, log_path):
        # The Procfile's command: gunicorn APP --bind ... --workers N --access-logfile -
        command = [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", *gunicorn_options]
        return cls(command, env, log_path)

    @classmethod
    def worker(cls, env, log_path):
        return cls([sys.executable, "-m", "workers.worker"], env, log_path)

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def stop(self, timeout_seconds=15):
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


def wait_for_port(port, timeout_seconds=20):
    def accepting():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    wait_until(accepting, timeout_seconds, what=f"a server on port {port}")
