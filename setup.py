"""Metadata lives in pyproject.toml; this only ships config/*.yaml inside the wheel as
``parse_vos_ros/profiles/`` so ``pip install .`` users get the named profiles too."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithProfiles(build_py):
    """build_py that also copies the YAML profiles from config/ into the package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "parse_vos_ros" / "profiles"
        target.mkdir(parents=True, exist_ok=True)
        for profile in sorted(Path("config").glob("*.yaml")):
            self.copy_file(str(profile), str(target / profile.name))


setup(cmdclass={"build_py": BuildPyWithProfiles})
