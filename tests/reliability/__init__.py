"""The reliability suite (`make reliability`): a program, not pytest tests; see run.py."""
