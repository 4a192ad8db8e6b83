"""Build script for fastgmm's compiled extensions.

Metadata lives in pyproject.toml; this file only knows how to compile.

Environment variables
---------------------
FASTGMM_NO_OPENMP=1
    Build without OpenMP even where the compiler supports it (the kernels then
    run single-threaded).
FASTGMM_DEBUG=1
    Debug build: Cython bounds/wraparound/initialisation checks on, no -O3,
    with debug symbols (-g), for test runs that hunt memory errors. Release
    builds have no debug symbols (-g0) and, on Linux, are stripped (-s).
FASTGMM_SANITIZE=address,undefined
    Compile and link the extensions with those -fsanitize= checkers (gcc or
    clang; implies nothing else: combine with FASTGMM_DEBUG=1). The
    interpreter must then preload the runtime (LD_PRELOAD=libasan.so):
    ``.ci/sanitize`` builds and runs the tests this way.
FASTGMM_CYTHON_ANNOTATE=1
    Write Cython's HTML annotation next to each .pyx (for profiling work).
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


EXTENSIONS = [
    "fastgmm.kernels._openmp_helpers",
    "fastgmm.kernels._estep",
    "fastgmm.kernels._kmeans",
    "fastgmm.kernels._hmm",
    "fastgmm.kernels._hc",
    "fastgmm.kernels._finite",
    "fastgmm.kernels._linalg",
    "fastgmm.kernels._mclust_mstep",
    "fastgmm.kernels._emrun",
]

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d\\n", n > 0 && omp_get_max_threads() > 0);
        return 0;
    }
    """
)


def _openmp_flags(compiler):
    """Return (compile_args, link_args) to enable OpenMP for this compiler."""
    ctype = compiler.compiler_type
    if ctype == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        # Apple clang understands OpenMP pragmas only through the
        # preprocessor and ships no runtime; libomp comes from Homebrew or the
        # wheel build's before-all step (tools/install_libomp_macos.sh), whose
        # location arrives in CPPFLAGS/LDFLAGS.
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    # gcc, clang on Linux, mingw, icx all accept -fopenmp.
    return ["-fopenmp"], ["-fopenmp"]


def _compiler_has_openmp(compiler, cflags, ldflags):
    """Compile and link a tiny OpenMP program with the build's own compiler."""
    tmp = tempfile.mkdtemp(prefix="fastgmm-omp-")
    cwd = os.getcwd()
    try:
        os.chdir(tmp)
        with open("probe.c", "w") as f:
            f.write(OPENMP_PROBE)
        env_cflags = os.environ.get("CFLAGS", "").split() + os.environ.get("CPPFLAGS", "").split()
        env_ldflags = os.environ.get("LDFLAGS", "").split()
        objs = compiler.compile(["probe.c"], extra_postargs=cflags + env_cflags)
        compiler.link_executable(objs, "probe", extra_postargs=ldflags + env_ldflags)
        exe = os.path.join(tmp, "probe" + (".exe" if sys.platform == "win32" else ""))
        # Cross-compiling (e.g. macOS arm64 wheels on x86_64) cannot run the
        # probe; a successful link is then the evidence.
        try:
            out = subprocess.run([exe], capture_output=True, text=True, timeout=30)
            return out.returncode == 0 and out.stdout.strip() == "1"
        except OSError:
            return True
    except Exception:  # compile or link error: no usable OpenMP
        return False
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    """build_ext that turns OpenMP on for every extension where it works."""

    def _force_if_mode_changed(self, mode):
        # setuptools skips an extension whose .so is newer than its sources,
        # so a release build after a FASTGMM_DEBUG=1 (or FASTGMM_NO_OPENMP=1)
        # build in the same tree would silently reuse the other mode's binary.
        marker = os.path.join(self.build_temp, "fastgmm-build-mode")
        previous = None
        if os.path.exists(marker):
            with open(marker) as f:
                previous = f.read()
        if previous != mode:
            self.force = True
        os.makedirs(self.build_temp, exist_ok=True)
        with open(marker, "w") as f:
            f.write(mode)

    def build_extensions(self):
        debug = _env_flag("FASTGMM_DEBUG")
        use_openmp = not _env_flag("FASTGMM_NO_OPENMP")
        omp_c, omp_l = _openmp_flags(self.compiler)
        if use_openmp:
            use_openmp = _compiler_has_openmp(self.compiler, omp_c, omp_l)
            if not use_openmp:
                print(
                    "fastgmm: WARNING: the compiler has no working OpenMP; building "
                    "single-threaded kernels. On macOS install libomp "
                    "(brew install libomp) and set CPPFLAGS/LDFLAGS.",
                    file=sys.stderr,
                )
        self._force_if_mode_changed(f"debug={debug} openmp={use_openmp} "
                                    f"sanitize={os.environ.get('FASTGMM_SANITIZE', '').strip()}")
        print(f"fastgmm: OpenMP {'enabled' if use_openmp else 'disabled'} "
              f"(compiler: {self.compiler.compiler_type}, flags: {omp_c if use_openmp else []})")

        ctype = self.compiler.compiler_type
        linux_gnu = ctype == "unix" and sys.platform.startswith("linux")
        if linux_gnu:
            # Python's LDSHARED/LDFLAGS often carry -Wl,-rpath to the build
            # machine's own lib directory (pyenv, conda); an extension module
            # never needs it, and a wheel must not point at that path.
            self.compiler.linker_so = [a for a in self.compiler.linker_so
                                       if not a.startswith(("-Wl,-rpath", "-Wl,-R"))]
        for ext in self.extensions:
            cargs, largs = [], []
            if ctype == "msvc":
                cargs += ["/Od" if debug else "/O2"]
            else:
                # -O3 for the vectoriser; never -ffast-math or -march=native:
                # wheels must give IEEE results on every x86-64/arm64 CPU.
                # -fno-trapping-math keeps every result IEEE (no reassociation,
                # no contraction, no flush-to-zero); it only frees the compiler
                # from preserving floating-point exception *flags*, which lets
                # it vectorise the branch-free exp and the row maxima.
                # -ffp-contract=off: no fused multiply-adds, so the baseline,
                # AVX2 and AVX-512 versions of the exp loop (_fastexp.h) and
                # every platform perform the same roundings.
                cargs += ["-O0", "-g"] if debug else ["-O3", "-fno-trapping-math"]
                cargs += ["-ffp-contract=off"]
                # -fno-math-errno: sqrt and log need not set errno (nothing reads it), so
                # the missing-value kernel's per-lane square roots vectorise (_missing.h);
                # the results are the same IEEE values.
                cargs += ["-fno-math-errno"]
                # Cython's lastprivate scaffolding in parallel blocks trips
                # -Wmaybe-uninitialized; the variables are assigned before use.
                cargs += ["-Wno-unreachable-code", "-Wno-unused-function",
                          "-Wno-maybe-uninitialized"]
                if not debug:
                    # Python's CFLAGS usually include -g, which made _estep
                    # 1.7 MB of mostly DWARF; these come after the inherited
                    # flags, so they win. FASTGMM_DEBUG=1 keeps -g.
                    cargs += ["-g0"]
                    if linux_gnu:
                        largs += ["-s"]     # no symbol table either (the PyInit_ export stays)
            sanitize = os.environ.get("FASTGMM_SANITIZE", "").strip()
            if sanitize and ctype != "msvc":
                cargs += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
                largs += [f"-fsanitize={sanitize}"]
            if use_openmp:
                cargs += omp_c
                largs += omp_l
            ext.extra_compile_args = cargs + list(ext.extra_compile_args or [])
            ext.extra_link_args = largs + list(ext.extra_link_args or [])
        super().build_extensions()


def _extensions():
    from Cython.Build import cythonize
    import numpy as np

    debug = _env_flag("FASTGMM_DEBUG")
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": False,
        "initializedcheck": debug,
        "cdivision": True,
        "nonecheck": False,
        "cpow": True,
        "embedsignature": True,
    }
    exts = [
        Extension(
            name,
            sources=[os.path.join("src", *name.split(".")) + ".pyx"],
            include_dirs=[np.get_include(), os.path.join("src", "fastgmm", "kernels")],
            define_macros=[
                ("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION"),
                ("FASTGMM_DEBUG_BUILD", "1" if debug else "0"),
            ],
        )
        for name in EXTENSIONS
    ]
    return cythonize(
        exts,
        compiler_directives=directives,
        annotate=_env_flag("FASTGMM_CYTHON_ANNOTATE"),
        # Generated C goes under build/, one tree per mode, so flipping
        # FASTGMM_DEBUG never reuses C generated with the other directives.
        build_dir=os.path.join("build", "cython-debug" if debug else "cython"),
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
