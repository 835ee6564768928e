"""Command line and development tools: the `wuye` command, evaluation and model selection, benchmarks, screenshots, demo data, the test server."""
