"""anker.config: typed, layered, validated, reloadable configuration that reads OpenStack's files.

Declare options as typed attributes of :class:`Group` classes, gather the groups on a
:class:`Config` class, and :meth:`Config.load` it::

    from anker import Secret
    from anker.config import Config, Group, option

    class Database(Group):
        connection: Secret[str] = option(help="URL of the database.")
        max_pool_size: int = option(5, min=1, mutable=True, help="Connections kept open.")

    class ServiceConfig(Config):
        debug: bool = option(False, help="Log at debug level.")
        database: Database

    conf = ServiceConfig.load(files=["/etc/svc/svc.conf"], env_prefix="SVC", argv=sys.argv[1:])
    conf.database.max_pool_size  # an int, checked when loaded

Sources, lowest precedence first: defaults, config files (INI in oslo.config's dialect, or
TOML), environment variables, the command line (with positional options and sub-commands:
:class:`Command` and :func:`subcommand`). Every value is checked at load time and every
problem is reported at once in one :class:`ConfigError`. See ``docs/config.md``.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker.config._commands import Command, subcommand
from anker.config._config import Change, Config, ReloadResult
from anker.config._kinds import Port
from anker.config._network import HostAddress
from anker.config._problems import ConfigError, Problem
from anker.config._schema import MISSING, Group, Option, option
from anker.config._sources import Origin
from anker.config._units import ByteSize

__all__ = [
    "MISSING",
    "ByteSize",
    "Change",
    "Command",
    "Config",
    "ConfigError",
    "Group",
    "HostAddress",
    "Option",
    "Origin",
    "Port",
    "Problem",
    "ReloadResult",
    "option",
    "subcommand",
]

show_public_paths(__name__, globals(), __all__)
