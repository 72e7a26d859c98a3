"""Measuring: metrics and their weights, the quality API, timing, the benchmark
(paper Sec. 5, Table 1). See the map in ``codi_lib``."""
