"""Secret store drivers, one module each, found by URL scheme (``anker.secrets.stores``)."""
