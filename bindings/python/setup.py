"""Builds crossgpu's native module (_native) with the repository's CMake project for pip.

The module is CMake's target crossgpu_python; this file only drives CMake and copies the result
into the wheel. Environment:
  CROSSGPU_CMAKE_BUILD_DIR  an existing build folder of this repository to build the target in
                            (make test passes its own); default: a Release build under build_temp
  CROSSGPU_CMAKE_ARGS       extra arguments for a fresh configure (e.g. -DCROSSGPU_WITH_NETWORK=OFF)
  CROSSGPU_SETUP_BUILD_BASE setuptools' own build folder (default build/ next to this file)
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent


def project_version() -> str:
    text = (REPOSITORY / "CMakeLists.txt").read_text()
    match = re.search(r"project\(crossgpu VERSION ([0-9.]+)", text)
    if not match:
        raise RuntimeError("no project(crossgpu VERSION ...) in CMakeLists.txt")
    return match.group(1)


class CMakeBuild(build_ext):
    """Runs CMake for each extension instead of compiling its sources itself."""

    def build_extension(self, ext: Extension) -> None:
        build_dir = os.environ.get("CROSSGPU_CMAKE_BUILD_DIR")
        if build_dir:
            build = Path(build_dir).resolve()
        else:
            build = Path(self.build_temp).resolve() / "cmake"
            self.configure(build)
        subprocess.run(["cmake", "--build", str(build), "--target", "crossgpu_python"], check=True)
        built = sorted((build / "python" / "crossgpu").glob("_native*.so"))
        if len(built) != 1:
            raise RuntimeError(f"expected one _native module in {build}/python/crossgpu, found {built}")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[0], target)
        # The wheel carries no debug info (a RelWithDebInfo module is ~20 times larger); the build
        # folder keeps it.
        if shutil.which("objcopy"):
            subprocess.run(["objcopy", "--strip-debug", str(target)], check=True)

    def configure(self, build: Path) -> None:
        if (build / "CMakeCache.txt").exists():
            return
        args = [
            "cmake", "-S", str(REPOSITORY), "-B", str(build), "-G", "Ninja",
            "-DCMAKE_BUILD_TYPE=Release", "-DCROSSGPU_BUILD_TESTS=OFF", "-DCROSSGPU_BUILD_BENCH=OFF",
            f"-DPython_EXECUTABLE={sys.executable}",
        ]
        args += shlex.split(os.environ.get("CROSSGPU_CMAKE_ARGS", ""))
        subprocess.run(args, check=True)


build_base = os.environ.get("CROSSGPU_SETUP_BUILD_BASE")
setup(
    version=project_version(),
    options={"build": {"build_base": build_base}, "egg_info": {"egg_base": build_base}} if build_base else {},
    ext_modules=[Extension("crossgpu._native", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
)
