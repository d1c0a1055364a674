"""The coordination backends shipped with anker, one module each, loaded by URL scheme."""
