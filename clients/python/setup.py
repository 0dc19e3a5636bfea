"""Generates the gRPC stubs from ../../proto before building (pip install ./clients/python)."""
import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithStubs(build_py):
    def run(self):
        subprocess.run([sys.executable, os.path.join(HERE, "gen_stubs.py")], check=True)
        super().run()


setup(cmdclass={"build_py": BuildWithStubs})
