"""The ``flask leaderboard`` commands: migrate, rebuild, verify, status and failed jobs."""

import sys

import click
from flask import current_app
from flask.cli import AppGroup
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.registry import FailedJobRegistry

from leaderboard import database
from leaderboard.rebuild import rebuild as rebuild_board
from leaderboard.verify import verify as verify_board

leaderboard_cli = AppGroup("leaderboard", help="Operate the leaderboard service.")
failed_cli = AppGroup("failed", help="Inspect and replay award jobs in RQ's failed job registry.")
leaderboard_cli.add_command(failed_cli)


def _repository():
    return current_app.extensions["repository"]


def _award_queue():
    return current_app.extensions["award_queue"]


@leaderboard_cli.command("migrate")
def migrate_command():
    """Apply pending database migrations (safe to run repeatedly)."""
    applied = database.migrate(current_app.extensions["database"])
    if applied:
        click.echo(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        click.echo("database schema is up to date")


@leaderboard_cli.command("rebuild")
@click.option(
    "--from-log",
    is_flag=True,
    help="First recompute leaderboard_scores from point_transactions, then rebuild Redis from it.",
)
def rebuild_command(from_log):
    """Rebuild the Redis board and usernames from the database and the queued awards."""
    report = rebuild_board(_repository(), _award_queue(), from_log=from_log)
    if report.scores_rewritten is not None:
        click.echo(f"rewrote leaderboard_scores from the log: {report.scores_rewritten} user(s)")
    click.echo(
        f"rebuilt board: {report.members} member(s), {report.users} username(s), "
        f"{report.pending_awards} queued award(s) not yet in the database counted on top, "
        f"{report.journaled_awards} award(s) received during the rebuild, "
        f"in {report.seconds:.2f}s"
    )


@leaderboard_cli.command("verify")
def verify_command():
    """Compare Redis, leaderboard_scores and the log; exit 1 on any drift."""
    report = verify_board(_repository(), _award_queue())
    for drift in report.drifts:
        click.echo(
            f"drift: user {drift.user_id}: redis={drift.redis_score} "
            f"expected redis={drift.expected_redis_score} "
            f"leaderboard_scores={drift.table_score} point_transactions={drift.log_score}"
        )
    click.echo(
        f"checked {report.users_checked} user(s), {report.pending_awards} award(s) still queued, "
        f"{len(report.drifts)} with drift"
    )
    if not report.ok:
        sys.exit(1)


@leaderboard_cli.command("status")
def status_command():
    """Print where accepted awards wait: the outbox and the award jobs, by state."""
    award_queue = _award_queue()
    queue = award_queue.queue
    click.echo(f"outbox: {_repository().outbox_length()} award(s) waiting for the worker")
    # cleanup=False: counting must not move jobs between registries as a side effect.
    click.echo(f"queued jobs: {queue.count + len(queue.intermediate_queue.get_job_ids())}")
    click.echo(f"running jobs: {queue.started_job_registry.get_job_count(cleanup=False)}")
    click.echo(f"jobs waiting to retry: {queue.scheduled_job_registry.get_job_count(cleanup=False)}")
    click.echo(f"failed jobs: {queue.failed_job_registry.get_job_count(cleanup=False)}")
    jobs = award_queue.award_jobs()
    pending = sum(len(award_queue.job_awards(job)) for job in jobs)
    click.echo(f"awards in jobs not yet finished: {pending} in {len(jobs)} job(s)")


def _failed_registry():
    return FailedJobRegistry(queue=_award_queue().queue)


def _exception_line(exc_string):
    """Return the exception line of a formatted traceback, or "unknown".

    It is the last line that is not indented, because a message may continue on indented
    lines, as psycopg2's connection errors do with "Is the server running on that host...?".
    """
    lines = [line for line in (exc_string or "").strip().splitlines() if line and not line[0].isspace()]
    return lines[-1] if lines else "unknown"


@failed_cli.command("list")
def failed_list_command():
    """List each award held by a failed job, with its error and attempts."""
    award_queue = _award_queue()
    registry = _failed_registry()
    jobs = [job for job in award_queue.award_jobs() if job.id in set(registry.get_job_ids())]
    count = 0
    for job in jobs:
        result = job.latest_result()
        error = _exception_line(result.exc_string if result else None)
        # The job's own retry policy, not this process's setting: the two may differ.
        # NOTE: a job that failed again after a requeue shows only its first round.
        attempts = len(job.retry_intervals or []) - (job.retries_left or 0) + 1
        for award in award_queue.job_awards(job):
            count += 1
            click.echo(
                f"job {job.id}: user {award.user_id} points {award.points} source {award.source!r} "
                f"transaction {award.transaction_id} attempts {attempts} "
                f"error {error!r}"
            )
    click.echo(f"{count} failed award(s) in {len(jobs)} job(s)")


@failed_cli.command("requeue")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "requeue_all", is_flag=True, help="Requeue every failed award job.")
def failed_requeue_command(job_ids, requeue_all):
    """Move failed award jobs back to the queue; their awards are recorded once."""
    registry = _failed_registry()
    if requeue_all:
        job_ids = registry.get_job_ids()
    elif not job_ids:
        raise click.UsageError("name the job ids to requeue, or pass --all")
    for job_id in job_ids:
        try:
            registry.requeue(job_id)
        except (InvalidJobOperation, NoSuchJobError):
            raise click.ClickException(
                f"job {job_id} is not in the failed job registry; list them with 'flask leaderboard failed list'"
            ) from None
        click.echo(f"requeued job {job_id}")
    click.echo(f"requeued {len(job_ids)} job(s)")


def init_app(app):
    app.cli.add_command(leaderboard_cli)
