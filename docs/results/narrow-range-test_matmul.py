import numpy as np
import pytest


@pytest.mark.gpubench(experiment="matmul")
@pytest.mark.parametrize("n", [768, 1024, 1536, 2048], ids=["768", "1024", "1536", "2048"])
def test_matmul(gpubench, device, n):
    a = gpubench.transfer(np.ones((n, n)), "float64")
    gpubench(lambda: a @ a, units="GFLOP", units_per_round=2 * n**3 / 1e9)
