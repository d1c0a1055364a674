"""``anker completion bash|zsh|fish``: the shell completion script, from click's own support."""

from __future__ import annotations

import click

__all__ = ["completion"]

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script of SHELL; load it from the shell's startup file.

    \b
    bash:  eval "$(anker completion bash)"      (in ~/.bashrc)
    zsh:   eval "$(anker completion zsh)"       (in ~/.zshrc)
    fish:  anker completion fish > ~/.config/fish/completions/anker.fish
    """
    from click.shell_completion import get_completion_class

    from anker.cli._main import cli

    completer = get_completion_class(shell)
    assert completer is not None  # every shell click knows, and only those, is a choice
    script = completer(cli, {}, "anker", "_ANKER_COMPLETE").source()
    click.echo(script)
