"""Side-by-side benchmarks of anker against its anchors. Run ``python -m bench --help``."""
