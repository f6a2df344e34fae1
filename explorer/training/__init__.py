"""Training: recipes, data, the engine, the run store, its workers and multi-process runs."""
