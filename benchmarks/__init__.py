"""Speed benchmarks of the trainer, the input pipeline and the converter (run.py is the entry
point; see README.md). Not tests: nothing here asserts a speed."""
