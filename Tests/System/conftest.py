import itertools

import pytest

from lab import Lab

_names = (f"ex{i}" for i in itertools.count())


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
