"""The RQ worker of the leaderboard service and the jobs it runs."""
