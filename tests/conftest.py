"""Suite-wide fixtures."""

import logging

import pytest

_HEPC9 = logging.getLogger("hepc9")
#: The ``hepc9`` logger as the suite found it (before any in-process CLI call).
_PRISTINE = (list(_HEPC9.handlers), _HEPC9.level, _HEPC9.propagate)


@pytest.fixture(autouse=True)
def _restore_hepc9_logger():
    """Put the ``hepc9`` logger back as the suite found it, before and after each test.

    ``hepc9.cli.main`` gives the ``hepc9`` logger its own stderr handler and stops propagation;
    left in place (by a test or a module-scoped fixture that runs the CLI in-process), that
    hides the records of later tests on the same worker from ``caplog``, so the outcome of a
    test would depend on which tests ran before it.
    """
    _reset()
    yield
    _reset()


def _reset():
    handlers, level, propagate = _PRISTINE
    _HEPC9.handlers[:] = handlers
    _HEPC9.setLevel(level)  # setLevel also clears the loggers' level caches
    _HEPC9.propagate = propagate
