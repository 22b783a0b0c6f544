"""Training: the loop (`loop.train`), the tensor work of a step, micro-batching and records."""
