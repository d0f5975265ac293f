"""The ``synaplex`` command: run, evaluate, train, inspect and serve a saved program without
writing Python (``synaplex --help``). It needs the ``cli`` extra (click); ``synaplex serve``
also needs the ``serve`` extra (Starlette, uvicorn) and ``--mcp`` the ``mcp`` extra.

Errors are one line on stderr (``--debug`` shows the traceback) and a non-zero exit code: 1
when the work failed, 2 for a usage error.
"""

from __future__ import annotations

import sys
import traceback


def one_line(error: BaseException) -> str:
    """An error's message on one line (a message spread over lines is joined)."""
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    return text or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """The console script's entry point; returns the exit code (``sys.exit(main())``)."""
    try:
        import click  # noqa: PLC0415 - optional: the cli extra (checked here, to say how to install it)
    except ModuleNotFoundError:
        sys.stderr.write("Error: the synaplex command needs the 'cli' extra: pip install 'synaplex[cli]'\n")
        return 1
    from synaplex.cli.commands import DEBUG, cli  # noqa: PLC0415 - it imports click, checked just above

    args = sys.argv[1:] if argv is None else list(argv)
    DEBUG["on"] = False   # --debug sets it while click parses the arguments
    try:
        result = cli.main(args=args, prog_name="synaplex", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:   # a usage error: click's message and exit code 2
        error.show()
        return error.exit_code
    except (click.Abort, KeyboardInterrupt):
        sys.stderr.write("Aborted.\n")
        return 130
    except Exception as error:  # noqa: BLE001 - every failure is one line and exit code 1
        if DEBUG["on"]:
            traceback.print_exception(error)
        sys.stderr.write(f"Error: {one_line(error)}\n")
        return 1
    return result if isinstance(result, int) else 0
