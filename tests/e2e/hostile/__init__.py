"""What the hostile-input property tests share: strategies, expectations, a bot on its own
thread."""
