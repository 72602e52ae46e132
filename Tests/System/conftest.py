import itertools
import os

import pytest

from lab import Lab

# EXO_LAB_PREFIX lets two suites run side by side on one machine without their namespaces colliding.
_prefix = os.environ.get("EXO_LAB_PREFIX", "ex")
_names = (f"{_prefix}{i}" for i in itertools.count())


@pytest.fixture
def make_lab():
    """make_lab(n) builds an n-host lab; all labs are torn down after the test, pass or fail."""
    labs: list[Lab] = []

    def make(size: int) -> Lab:
        lab = Lab(next(_names), size)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.close()
