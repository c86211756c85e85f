"""Priors of the posterior model: the optional separate concentration of the atoms and atom cells."""

import numpy as np
import numpyro.distributions as npdist
import pytest

from probcascade.exceptions import DataValidationError
from probcascade.posterior.models import Priors


def test_atom_concentration_vectors():
    p = Priors(weight_concentration=1.5, cell_concentration=2.0, atom_concentration=0.1)
    np.testing.assert_array_equal(p.weight_prior(2), [0.1, 0.1, 1.5, 1.5])
    cells = p.cell_prior().reshape(3, 3)
    assert cells[1, 1] == 2.0                       # interior-interior keeps cell_concentration
    assert np.all(np.delete(cells.ravel(), 4) == 0.1)
    unset = Priors(atom_concentration=None)         # None: the general concentrations everywhere (old behaviour)
    np.testing.assert_array_equal(unset.weight_prior(3), np.ones(5))
    np.testing.assert_array_equal(unset.cell_prior(), np.ones(9))
    default = Priors()                              # default: 0.25 on the atoms and atom cells, 1 elsewhere
    np.testing.assert_array_equal(default.weight_prior(2), [0.25, 0.25, 1.0, 1.0])
    np.testing.assert_array_equal(default.cell_prior(), [0.25] * 4 + [1.0] + [0.25] * 4)
    with pytest.raises(DataValidationError, match="atom_concentration"):
        Priors(atom_concentration=0.0)
    with pytest.raises(DataValidationError, match="cell_concentration"):
        Priors(cell_concentration=None)             # only atom_concentration may be left unset


class _Recorded(Exception):
    pass


def test_model_uses_atom_concentration(monkeypatch):
    """The model's Dirichlet sites get the Priors' vectors (recorded at the first Dirichlet, before any likelihood)."""
    from types import SimpleNamespace

    import probcascade.posterior.models as models

    seen = []

    def dirichlet(concentration):
        seen.append(np.asarray(concentration))
        raise _Recorded

    monkeypatch.setattr(models, "npdist", SimpleNamespace(**{**vars(npdist), "Dirichlet": dirichlet}))
    priors = Priors(atom_concentration=0.2, weight_concentration=1.0, cell_concentration=3.0)
    data = SimpleNamespace(k=2, n_components=2, order_by=("mean", "mean"), families=("independence",),
                           phi=np.zeros((5, 2)), cells=np.zeros((1, 9)))
    for block in (models._marginals, models._copulas):
        with pytest.raises(_Recorded):
            block(data, priors)
    np.testing.assert_allclose(seen[0], [0.2, 0.2, 1.0, 1.0])
    np.testing.assert_allclose(seen[1], [0.2] * 4 + [3.0] + [0.2] * 4)
