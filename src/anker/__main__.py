"""``python -m anker``: the ``anker`` command, for an environment without its script on PATH."""

from anker.cli import main

if __name__ == "__main__":
    main()
