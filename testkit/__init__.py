"""Helpers shared by the test suite, the benchmarks and the bootstrap: real processes (harness), the
template's facts (template) and baked projects (projects). Importable from the repository root, which
pytest's `pythonpath` and `python -m benchmarks.<name>` put on the path."""
