# `make test` is the README's test command: it sets up what is missing, then runs the whole suite on the
# containerd image store (Docker 29's default: GitHub's ubuntu-latest, Docker Desktop), then the act tier again on
# the classic store (ubuntu-24.04's Docker 28), but for the swarm deploy: the swarm pulls the pushed digest whichever
# store pushed it, and the push tests check that digest on both. The bootstrap switches the store of an engine it
# started itself.
PYTEST := .venv/bin/python -m pytest

.PHONY: test test-classic-store test-fast bench bootstrap

test:
	TRACKER_CI_IMAGE_STORE=containerd bash scripts/bootstrap.sh
	TRACKER_CI_IMAGE_STORE=containerd $(PYTEST)
	$(MAKE) test-classic-store

test-classic-store:
	TRACKER_CI_IMAGE_STORE=classic bash scripts/bootstrap.sh
	TRACKER_CI_IMAGE_STORE=classic $(PYTEST) -m "(act and not swarm) or image_store"

# The tier that needs no engine: rendering, hooks, linters, the harness (its bootstrap sets up the venv and linters).
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
