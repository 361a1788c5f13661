# `make test` is the README's test command: it sets up what is missing, then runs the whole suite.
PYTEST := .venv/bin/python -m pytest

.PHONY: test test-fast bench bootstrap

test: bootstrap
	$(PYTEST)

# The tier that needs no engine and installs nothing: rendering, hooks, linters, the harness.
test-fast: bootstrap
	$(PYTEST) -m "not docker and not act and not venv and not swarm"

bootstrap:
	bash scripts/bootstrap.sh

# Benchmarks print tables and write benchmarks/results/*.json; they assert nothing about speed.
bench: bootstrap
	.venv/bin/python -m benchmarks.throughput
	.venv/bin/python -m benchmarks.image_size
	.venv/bin/python -m benchmarks.pipeline
	.venv/bin/python -m benchmarks.swarm
	.venv/bin/python -m benchmarks.suite
