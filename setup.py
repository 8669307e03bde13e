"""Build hook: ship the top-level templates/ inside the wheel as wiki/templates/.

The project keeps templates/ at the repository's root; a wheel installed outside the checkout
has no root, so the build copies them into the package, where create_app() looks first.
Everything else about the package is declared in setup.cfg.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads templates/ from the checkout itself
        target = Path(self.build_lib) / "wiki" / "templates"
        shutil.copytree(HERE / "templates", target, dirs_exist_ok=True)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs += [str(Path(self.build_lib) / "wiki" / "templates" / p.relative_to(HERE / "templates"))
                        for p in (HERE / "templates").rglob("*") if p.is_file()]
        return outputs


setup(cmdclass={"build_py": BuildWithTemplates})
