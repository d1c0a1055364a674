"""One module per benchmark, each defining ``BENCHMARK``; the module name is the benchmark's."""
