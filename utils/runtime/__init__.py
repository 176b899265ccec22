"""How an entry point runs: logging once, one-line errors, child processes."""
