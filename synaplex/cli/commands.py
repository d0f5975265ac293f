"""The commands of ``synaplex`` (click): run, evaluate, fit, summary, plot, models, version, serve."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import warnings
from typing import Any

import click

from synaplex.backend.errors import MissingDependencyError
from synaplex.cli.programs import CommandError, load_program, parse_json, read_examples, read_json_lines, resolve
from synaplex.lm.catalogue import shipped_catalogue
from synaplex.lm.language_model import LanguageModel
from synaplex.lm.profiles import PROFILES
from synaplex.serialization.safe_mode import CAPABILITIES
from synaplex.serving.runner import ProgramRunner, error_json
from synaplex.training.callbacks.progbar_logger import ProgbarLogger
from synaplex.version import __version__
from synaplex.visualization.plot import plot_program

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Set by ``--debug`` (on the group or any command): ``main`` prints the traceback of a failure.
DEBUG = {"on": False}


def _set_debug(ctx, param, value) -> None:
    if value:
        DEBUG["on"] = True


def common(function):
    """``--debug`` on every command (and on the group)."""
    return click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
                        help="Show the full traceback of an error.")(function)


def _allow_values(ctx, param, values) -> tuple[str, ...]:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in CAPABILITIES]
    if unknown:
        raise click.BadParameter(f"unknown capability {unknown[0]!r}; choose from {', '.join(CAPABILITIES)}.")
    return tuple(dict.fromkeys(names))


def loading(function):
    """The options of commands that load a program file."""
    function = click.option("--model", metavar="PROVIDER/MODEL",
                            help="Use this language model for every module (e.g. openai/gpt-4o-mini, local).")(function)
    function = click.option("--unsafe", is_flag=True,
                            help="Turn safe mode off: the file may do anything it asks (only for files you trust).")(
        function)
    function = click.option("--allow", "allow", multiple=True, callback=_allow_values, metavar="CAPABILITY",
                            help=f"Let the file do this (repeat or comma-separate): {', '.join(CAPABILITIES)}. "
                                 "Safe mode refuses them by default.")(function)
    return click.argument("program_file", metavar="PROGRAM", type=click.Path(dir_okay=False))(function)


def _stderr_console():
    from rich.console import Console  # noqa: PLC0415 - rich loads when a command shows something

    return Console(stderr=True)


def _stdout_console():
    from rich.console import Console  # noqa: PLC0415 - rich loads when a command shows something

    return Console(soft_wrap=True)


def _dumps(value: Any, pretty: bool = False) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2 if pretty else None)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="synaplex", message="%(prog)s %(version)s")
@common
def cli() -> None:
    """Run, evaluate, train, inspect and serve saved synaplex programs.

    Program files load in safe mode: a file that would start a process, import code, read
    environment variables, send credentials to an endpoint it names or create files is
    refused unless you pass --allow CAPABILITY (or --unsafe). Errors are one line; add
    --debug for the traceback.
    """


# --- run ---------------------------------------------------------------------------------

@cli.command(context_settings=CONTEXT)
@loading
@click.option("--input", "-i", "input_text", metavar="JSON",
              help='One input as JSON, e.g. \'{"query": "..."}\'. Without it, JSON lines are read from stdin.')
@click.option("--batch-size", "-b", default=8, show_default=True, type=click.IntRange(min=1),
              help="Inputs from stdin run this many at once.")
@click.option("--pretty", is_flag=True, help="Indent the JSON output.")
@click.option("--stream", "-s", is_flag=True,
              help="With --input: a streaming program's text is printed as it comes (a program that does not "
                   "stream prints its JSON output).")
@common
def run(program_file: str, allow: tuple, unsafe: bool, model: str | None, input_text: str | None, batch_size: int,
        pretty: bool, stream: bool) -> int:
    """Run PROGRAM on one input (--input) or on JSON lines from stdin.

    Outputs are JSON on stdout, one line per input, in input order. An input that fails
    gives {"error": {"type", "message"}} on its line, and the exit code is 1. With --stream,
    a streaming program's reply is printed as plain text while it is generated.

    \b
    Examples:
      synaplex run qa.json --input '{"query": "What is the capital of France?"}'
      synaplex run qa.json --batch-size 16 < questions.jsonl > answers.jsonl
      synaplex run chat.json --stream --input '{"messages": [{"role": "user", "content": "Hi"}]}'
    """
    if stream and input_text is None:
        raise CommandError("--stream prints one reply as it comes: give that input with --input JSON.")
    if input_text is not None:
        values = [(None, parse_json(input_text, "--input"))]
    else:
        if sys.stdin.isatty():
            raise CommandError("Give an input with --input JSON, or pipe JSON lines to stdin.")
        values = read_json_lines(sys.stdin, "stdin")
        if not values:
            raise CommandError("stdin holds no input (one JSON object per line).")
    program = load_program(program_file, allow, unsafe, model)
    runner = ProgramRunner(program, max_concurrency=batch_size)
    for number, value in values:
        runner.validate(value, ("--input",) if number is None else (f"stdin line {number}",))
    if stream:
        return asyncio.run(_run_streaming(runner, values[0][1], pretty))
    return asyncio.run(_run_all(runner, [v for _, v in values], pretty))


async def _run_streaming(runner: ProgramRunner, value: Any, pretty: bool) -> int:
    """The text pieces on stdout as they come (flushed each), then a newline; the JSON output
    instead when the program does not stream."""
    streamed = False
    async for event, data in runner.events(value):
        if event == "chunk":
            sys.stdout.write(data["text"])
            sys.stdout.flush()
            streamed = True
        elif streamed:
            sys.stdout.write("\n")
            sys.stdout.flush()
        else:
            click.echo(_dumps(data, pretty))
    return 0


async def _run_all(runner: ProgramRunner, values: list, pretty: bool) -> int:
    results: list = [None] * len(values)
    failed: list[int] = []
    indices = iter(range(len(values)))
    console = _stderr_console()
    from rich.progress import Progress  # noqa: PLC0415 - rich loads when a command shows something

    with Progress(console=console, transient=True, disable=len(values) < 2 or not console.is_terminal) as progress:
        task = progress.add_task("running", total=len(values))

        async def worker() -> None:
            for i in indices:
                try:
                    results[i] = await runner.run(values[i], validate=False)
                except Exception as error:  # noqa: BLE001 - reported on its line, never dropped
                    results[i] = {"error": error_json(error)}
                    failed.append(i)
                    if len(values) == 1:
                        raise
                progress.advance(task)

        await asyncio.gather(*(worker() for _ in range(min(runner.max_concurrency, len(values)))))
    for result in results:
        click.echo(_dumps(result, pretty))
    if failed:
        shown = ", ".join(str(i + 1) for i in sorted(failed)[:10])
        click.echo(f"Error: {len(failed)} of {len(values)} inputs failed (input line{'s' if len(failed) > 1 else ''} "
                   f"{shown}).", err=True)
        return 1
    return 0


# --- evaluate and fit ----------------------------------------------------------------------

def _compile(program, reward: str | None, optimizer: str | None, metrics: tuple, what: str) -> None:
    compiled = getattr(program, "_compiled", False)
    if reward is None and not compiled:
        raise CommandError(f"{what} needs --reward (e.g. --reward exact_match): the program file was saved without "
                           "compile().")
    program.compile(
        reward=resolve("reward", reward) if reward else program.reward,
        optimizer=resolve("optimizer", optimizer) if optimizer else (program.optimizer if compiled else None),
        metrics=[resolve("metric", m) for m in metrics] if metrics else (program.metrics if compiled else None))


def _progbar():
    return ProgbarLogger(console=_stderr_console())


def _print_logs(logs: dict, title: str, as_json: bool) -> None:
    if as_json:
        click.echo(_dumps(logs))
        return
    from rich.table import Table  # noqa: PLC0415 - rich loads when a command shows something

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in logs.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        table.add_row(name, str(value))
    _stdout_console().print(table)


@cli.command(context_settings=CONTEXT)
@loading
@click.argument("data_file", metavar="DATA", type=click.Path(dir_okay=False))
@click.option("--reward", "-r", metavar="ID", help="The reward id (exact_match, cosine_similarity, …); default: the "
                                                    "one the file was compiled with.")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="ID", help="A metric id (f1_score, accuracy, …); "
                                                                             "repeat for several.")
@click.option("--batch-size", "-b", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON instead of a table.")
@common
def evaluate(program_file: str, allow: tuple, unsafe: bool, model: str | None, data_file: str, reward: str | None,
             metrics: tuple, batch_size: int, as_json: bool) -> None:
    """Evaluate PROGRAM on DATA (JSON lines) and print the reward and metrics.

    Each line of DATA is {"input": {...}, "output": {...}}, or one object holding the
    input's and the expected output's fields.

    \b
    Example:
      synaplex evaluate qa.json test.jsonl --reward exact_match --metric f1_score
    """
    program = load_program(program_file, allow, unsafe, model)
    _compile(program, reward, None, metrics, "evaluate")
    x, y = read_examples(data_file, program)
    logs = asyncio.run(program.evaluate(x=x, y=y, batch_size=batch_size, verbose=1, callbacks=[_progbar()]))
    _print_logs(logs, f"{program.name} on {os.path.basename(data_file)} ({len(x)} examples)", as_json)


@cli.command(context_settings=CONTEXT)
@loading
@click.argument("data_file", metavar="TRAIN", type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Where to save the trained program.")
@click.option("--optimizer", metavar="ID", help="random_few_shot or omega; default: the file's own.")
@click.option("--reward", "-r", metavar="ID", help="The reward id; default: the one the file was compiled with.")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="ID", help="A metric id; repeat for several.")
@click.option("--epochs", "-e", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", "-b", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--validation-data", type=click.Path(dir_okay=False), help="JSON lines evaluated after each epoch.")
@click.option("--seed", type=int, help="Seed of the shuffling (and of RandomFewShot's sampling).")
@click.option("--json", "as_json", is_flag=True, help="Print the last epoch's logs as JSON instead of a table.")
@common
def fit(program_file: str, allow: tuple, unsafe: bool, model: str | None, data_file: str, output: str,
        optimizer: str | None, reward: str | None, metrics: tuple, epochs: int, batch_size: int,
        validation_data: str | None, seed: int | None, as_json: bool) -> None:
    """Train PROGRAM on TRAIN (JSON lines) and save the trained program to --output.

    \b
    Example:
      synaplex fit qa.json train.jsonl --reward exact_match --optimizer random_few_shot --epochs 2 -o trained.json
    """
    program = load_program(program_file, allow, unsafe, model)
    _compile(program, reward, optimizer, metrics, "fit")
    if program.optimizer is None:
        raise CommandError("fit needs --optimizer (random_few_shot or omega): the program file has none.")
    x, y = read_examples(data_file, program)
    validation = read_examples(validation_data, program) if validation_data else None
    history = asyncio.run(program.fit(x=x, y=y, epochs=epochs, batch_size=batch_size, verbose=1, seed=seed,
                                      validation_data=validation, callbacks=[_progbar()]))
    program.save(output)
    logs = {name: values[-1] for name, values in history.history.items() if values}
    _print_logs(logs, f"{program.name}: last epoch of {epochs}", as_json)
    click.echo(f"Saved the trained program to {output}", err=True)


# --- inspecting ----------------------------------------------------------------------------

@cli.command(context_settings=CONTEXT)
@loading
@common
def summary(program_file: str, allow: tuple, unsafe: bool, model: str | None) -> None:
    """Print PROGRAM's modules, their output schemas and trainable variables."""
    program = load_program(program_file, allow, unsafe, model)
    console = _stdout_console()
    program.summary(print_fn=console.print)


@cli.command(context_settings=CONTEXT)
@loading
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The image to write: a .png (needs Graphviz's dot) or a .dot file.")
@click.option("--schemas/--no-schemas", default=True, show_default=True, help="Show each module's output fields.")
@click.option("--rankdir", type=click.Choice(["TB", "LR", "BT", "RL"]), default="TB", show_default=True)
@common
def plot(program_file: str, allow: tuple, unsafe: bool, model: str | None, output: str, schemas: bool,
         rankdir: str) -> None:
    """Draw PROGRAM's graph to --output (PNG or DOT)."""
    extension = os.path.splitext(output)[1].lower()
    if extension not in (".png", ".dot"):
        raise CommandError(f"--output {output!r}: write a .png or a .dot file.")
    if extension == ".png" and shutil.which("dot") is None:
        raise CommandError("A PNG needs Graphviz's 'dot' (apt-get install graphviz, brew install graphviz), or "
                           "write a .dot file: -o program.dot.")
    program = load_program(program_file, allow, unsafe, model)
    folder = os.path.dirname(os.path.abspath(output))
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            written = plot_program(program, to_folder=scratch, show_schemas=schemas, show_trainable=True,
                                   filename="program", rankdir=rankdir)
        source = written if extension == ".png" else os.path.join(scratch, "program.dot")
        os.replace(source, output)
    click.echo(f"Wrote {output}", err=True)


def _price(value: Any) -> str:
    return "" if value is None else f"{value:g}"


@cli.command(context_settings=CONTEXT)
@click.argument("provider", required=False)
@click.option("--live", is_flag=True,
              help="Also ask the provider's /models endpoint (needs its key; uses the network).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@common
def models(provider: str | None, live: bool, as_json: bool) -> None:
    """The model catalogue: providers (no argument), or PROVIDER's models.

    Prices are USD per million tokens. With --live, the models the provider serves now.

    \b
    Examples:
      synaplex models                    # providers and how many models each has
      synaplex models anthropic          # the catalogue's entries for Anthropic
      synaplex models openrouter --live  # and OpenRouter's live list
    """
    entries = shipped_catalogue().get("models", {})
    if provider is None:
        if live:
            raise CommandError("--live needs a PROVIDER: synaplex models openrouter --live.")
        counts: dict[str, int] = {}
        for key in entries:
            counts[key.split("/", 1)[0]] = counts.get(key.split("/", 1)[0], 0) + 1
        rows = [{"provider": name, "models": counts.get(name, 0),
                 "live_list": bool(PROFILES[name].models_path) if name in PROFILES else False}
                for name in sorted(set(counts) | set(PROFILES))]
        if as_json:
            click.echo(_dumps(rows))
            return
        _table("providers", ["provider", "models", "live_list"], rows)
        return
    if provider not in PROFILES and not any(key.startswith(provider + "/") for key in entries):
        raise CommandError(f"Unknown provider {provider!r}; known: {', '.join(sorted(PROFILES))}.")
    rows = [{"model": key, "context": entry.get("context_window"), "max_output": entry.get("max_output_tokens"),
             "input_price": entry.get("input_price_per_million"), "output_price": entry.get("output_price_per_million")}
            for key, entry in sorted(entries.items()) if key.startswith(provider + "/")]
    listed = None
    if live:
        if provider in PROFILES and not PROFILES[provider].models_path:
            raise CommandError(f"{provider} has no endpoint that lists its models; the catalogue is all there is.")
        listed = sorted(str(item.get("id")) for item in asyncio.run(_live_models(provider)))
    if as_json:
        click.echo(_dumps({"catalogue": rows, "live": listed} if live else rows))
        return
    _table(f"{provider}: catalogue ({len(rows)} models)", ["model", "context", "max_output", "input_price",
                                                            "output_price"], rows)
    if listed is not None:
        _table(f"{provider}: live /models ({len(listed)})", ["id"], [{"id": name} for name in listed])


async def _live_models(provider: str) -> list[dict]:
    return await LanguageModel(model=f"{provider}/models").list_models()


def _table(title: str, columns: list[str], rows: list[dict]) -> None:
    from rich.table import Table  # noqa: PLC0415 - rich loads when a command shows something

    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column not in ("model", "provider", "id") else "left")
    for row in rows:
        table.add_row(*[_price(row[c]) if isinstance(row[c], float) else ("" if row[c] is None else str(row[c]))
                        for c in columns])
    _stdout_console().print(table)


@cli.command(context_settings=CONTEXT)
@common
def version() -> None:
    """Print synaplex's version (and Python's)."""
    click.echo(f"synaplex {__version__} (Python {platform.python_version()})")


# --- serve -----------------------------------------------------------------------------------

def _require(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"synaplex serve needs the {extra!r} extra ({module} is not installed): "
                                     f"pip install 'synaplex[{extra}]'")


def _token(token_file: str | None) -> str | None:
    if token_file is not None:
        try:
            with open(token_file, encoding="utf-8") as file:
                token = file.read().strip()
        except OSError as error:
            raise CommandError(f"Cannot read --token-file {token_file!r}: {error.strerror}.") from None
        if not token:
            raise CommandError(f"--token-file {token_file!r} is empty.")
        return token
    return os.environ.get("SYNAPLEX_SERVE_TOKEN", "").strip() or None


@cli.command(context_settings=CONTEXT)
@loading
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on (0.0.0.0: every "
                                                                      "interface).")
@click.option("--port", "-p", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--mcp", "as_mcp", is_flag=True, help="Serve the program as an MCP tool instead of the HTTP API.")
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True,
              help="With --mcp: stdin/stdout, or streamable HTTP at /mcp.")
@click.option("--max-concurrency", default=64, show_default=True, type=click.IntRange(min=1),
              help="Program runs at once; more requests wait.")
@click.option("--queue-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds a request may wait for a run slot before a 503.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
              help="Examples of one POST /batch run at once.")
@click.option("--max-batch", default=256, show_default=True, type=click.IntRange(min=1),
              help="Most inputs in one POST /batch.")
@click.option("--max-body-bytes", default=1024 * 1024, show_default=True, type=click.IntRange(min=1),
              help="Larger request bodies get a 413.")
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="Require 'Authorization: Bearer <token>' with the token in this file (or set "
                   "SYNAPLEX_SERVE_TOKEN).")
@click.option("--graceful-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="On SIGTERM/SIGINT, seconds given to requests in flight.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True)
@common
def serve(program_file: str, allow: tuple, unsafe: bool, model: str | None, host: str, port: int, as_mcp: bool,
          transport: str, max_concurrency: int, queue_timeout: float, batch_size: int, max_batch: int,
          max_body_bytes: int, token_file: str | None, graceful_timeout: float, log_level: str) -> None:
    """Serve PROGRAM over HTTP (POST /run, POST /batch, GET /health, /openapi.json, the
    playground page at /), or as an MCP tool (--mcp).

    \b
    Examples:
      synaplex serve qa.json --port 8000
      SYNAPLEX_SERVE_TOKEN=... synaplex serve qa.json --host 0.0.0.0
      synaplex serve qa.json --mcp                     # stdio, for an MCP client to start
      synaplex serve qa.json --mcp --transport http    # streamable HTTP at /mcp
    """
    _require("starlette", "serve")
    _require("uvicorn", "serve")
    if as_mcp:
        _require("mcp", "mcp")
    token = _token(token_file)
    program = load_program(program_file, allow, unsafe, model)
    from synaplex.serving import http  # noqa: PLC0415 - optional: the serve extra, checked above

    if not as_mcp:
        app = http.create_app(program, token=token, max_concurrency=max_concurrency, queue_timeout=queue_timeout,
                              batch_size=batch_size, max_body_bytes=max_body_bytes, max_batch=max_batch)
        click.echo(f"Serving {program.name!r} on http://{host}:{port} (playground at /, API at /openapi.json)"
                   + (" with bearer-token auth" if token else ""), err=True)
        http.serve_asgi(app, host=host, port=port, graceful_timeout=graceful_timeout, log_level=log_level)
        return
    from synaplex.serving import mcp_server  # noqa: PLC0415 - optional: the mcp extra, checked above

    server = mcp_server.create_server(program, max_concurrency=max_concurrency, queue_timeout=queue_timeout)
    if transport == "stdio":
        asyncio.run(mcp_server.run_stdio(server))
        return
    app = mcp_server.http_app(server, host=host)
    if token:
        app = http.BearerAuth(app, token)
    click.echo(f"Serving {program.name!r} as the MCP tool {mcp_server.tool_name(program.name)!r} on "
               f"http://{host}:{port}/mcp" + (" with bearer-token auth" if token else ""), err=True)
    http.serve_asgi(app, host=host, port=port, graceful_timeout=graceful_timeout, log_level=log_level)
