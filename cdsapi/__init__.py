"""cdsapi: a Customer Data API server for utilities (see README.md)."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("cdsapi")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
