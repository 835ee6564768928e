# The two commands of the README:  `make run`  and  `make test`.
.PHONY: run test test-browser test-deploy setup train eval bench screenshots clean reliability fuzz

setup:
	@bash scripts/setup_env.sh

# `wuye serve` listens on WUYE_HOST:WUYE_PORT (default 127.0.0.1:8000; bot/core/settings.py)
run: setup
	.venv/bin/wuye train
	.venv/bin/wuye demo-data
	.venv/bin/wuye serve

# Everything but the browser walks and the deployment tests (about 13 minutes on a 2-core machine); `make
# test-browser` runs the walks (about 5 more), `make test-deploy` the tests marked deploy: wuye started as an
# operator would, several workers, two instances behind nginx, the production start, the benchmark, the CLI's
# trainings (about 3 more). CI runs all three. PYTEST_ARGS="tests/unit -x" etc. to run a part.
test: setup
	.venv/bin/python -m pytest $(or $(PYTEST_ARGS),tests --ignore=tests/browser -m "not deploy")

test-deploy: setup
	.venv/bin/python -m pytest tests --ignore=tests/browser -m deploy $(PYTEST_ARGS)

# The pages in headless Chromium through Playwright (tests/browser/; Debian's /usr/bin/chromium)
test-browser: setup
	.venv/bin/python -m pytest tests/browser $(PYTEST_ARGS)

train: setup
	.venv/bin/wuye train

eval: setup
	.venv/bin/wuye eval
	.venv/bin/wuye eval --smp2017 ../shared/datasets/smp2017-ecdt-task1

bench: setup
	.venv/bin/wuye bench nlu
	.venv/bin/wuye bench serve

screenshots: setup
	.venv/bin/wuye screenshots

# Not part of `make test`: bad-input corpus, abuse, kill -9, Redis/database faults, two instances behind nginx and a
# soak (tests/reliability/; about 10 minutes). Table printed and written to reports/reliability.md; exit 1 on any
# 5xx, hang, lost message, cross-household read or accepted impersonation. RELIABILITY_ARGS="--soak 120" etc.
reliability: setup
	bash tests/reliability/setup.sh
	.venv/bin/wuye train
	.venv/bin/python -m tests.reliability.run $(RELIABILITY_ARGS)

# schemathesis (in its own venv: its pins are not Rasa's) with every check, as nobody, a resident, an API key, a
# technician, an agent and an admin, against a live server on copies of data/ and models/ (tests/fuzz/run.py).
# FUZZ_ARGS="--examples 100" for a longer run.
fuzz: setup
	@test -x .venv-fuzz/bin/schemathesis || { $$(.venv/bin/python -c 'import sys; print(sys._base_executable)') -m venv .venv-fuzz && { .venv-fuzz/bin/pip install -q "schemathesis==4.30.1" 2>&1 | grep -v "^WARNING: Location" || true; }; }
	.venv/bin/wuye train
	.venv/bin/python -m tests.fuzz.run $(FUZZ_ARGS)

clean:
	rm -rf models reports .pytest_cache data/nlu/generated
