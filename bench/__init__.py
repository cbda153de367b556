"""The performance benchmark of the leaderboard service; run it with bench/run."""
