"""anker.demo: a small cloud service built on anker, and the scenario ``anker demo`` runs.

The cloud (``anker run anker.demo:cloud``) has an HTTP API for servers; creating one claims
quota, then a durable workflow schedules it through an RPC call to a scheduler worker,
allocates a host under a lock, boots it and sends a notification; deleting one gives
everything back. ``anker demo`` sets it up on embedded defaults (or real servers), drives a
scripted scenario against it and prints what happened. See ``docs/demo.md``.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker.demo._cloud import cloud
from anker.demo._scenario import Scenario, StepResult
from anker.demo._setup import Backends, prepare

__all__ = ["Backends", "Scenario", "StepResult", "cloud", "prepare"]

show_public_paths(__name__, globals(), __all__)
