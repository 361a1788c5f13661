"""Helpers shared by the test suite, the benchmarks and the bootstrap, one subject per module: real processes
(harness), the template's facts (template), the action's (action), baked projects (projects), their Dockerfile
read as data (dockerfile), their images (images), Compose runs (compose), serving outside Docker (serving), load
(load), act (act), the stand-in registries (hub), cosign (cosign), the swarm (swarm), a project deployed on it
(stack) and Markdown tables (markdown). Importable from the repository root, which pytest's `pythonpath` and
`python -m benchmarks.<name>` put on the path."""
