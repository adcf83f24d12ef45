# The package version, written here and nowhere else: pyproject.toml's
# [tool.scikit-build.metadata.version] reads it into the wheel's metadata and tapegrad/__init__.py
# re-exports it as tg.__version__ (tests/test_version.py checks that the two agree).
__version__ = "0.1.0"
