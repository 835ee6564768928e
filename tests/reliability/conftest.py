"""The reliability suite is a program (`make reliability` → `python -m tests.reliability.run`), not a pytest suite:
`make test` (pytest, testpaths = ["tests"]) must never collect it. Its modules are not named test_*.py, and this
makes sure nothing here is collected even if someone adds one or points pytest at the directory."""
collect_ignore_glob = ["*"]
