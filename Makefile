# `make test` is the README's test command: it sets up what is missing, then runs the whole suite.
PYTEST := .venv/bin/python -m pytest

.PHONY: test test-fast bootstrap

test: bootstrap
	$(PYTEST)

# The tier that needs no engine: template rendering, hooks, linters, the app against a real Redis.
test-fast: bootstrap
	$(PYTEST) -m "not docker and not act"

bootstrap:
	bash scripts/bootstrap.sh
