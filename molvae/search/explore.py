"""Sample around a molecule's latent mean and rank the decoded neighbours by similarity.

Example:
    >>> explore(model, "CC(=O)Oc1ccccc1C(=O)O", n=200, radius=1.0).head()   # doctest: +SKIP
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from molvae import chem
from molvae.errors import InputError
from molvae.evaluation.metrics import tanimoto_matrix
from molvae.models.ring_limit import limit_for
from molvae.models.vae import MolVAE
from molvae.search.latent import decode_checked, posterior_one, recovery

logger = logging.getLogger(__name__)

NEIGHBOUR_PROPERTIES = ("qed", "logp", "sa", "mw")
# draws at 2 posterior standard deviations: on 32 molecules of the ZINC250k valid split their distinct
# neighbours are more familiar and more similar to the query than draws of standard deviation 1 in prior
# units, with enough of them (benchmarks/explore_radius.py, results/explore_radius.json)
DEFAULT_RADIUS = 2.0


def explore(
    model: MolVAE,
    smiles: str,
    n: int = 100,
    radius: float = DEFAULT_RADIUS,
    seed: int | None = 0,
    properties: tuple[str, ...] = NEIGHBOUR_PROPERTIES,
    reject_radicals: bool = True,
) -> pd.DataFrame:
    """Decode ``n`` points z = mu + radius * sd * eps (eps ~ N(0, I)) around the molecule's latent mean
    ``mu``, ``sd`` its posterior standard deviation: ``radius`` counts the encoder's own uncertainty about
    the molecule, so a step is small along the dimensions that hold it and large along those that
    do not (decoded molecules with unpaired electrons are dropped unless ``reject_radicals`` is False; ring
    closures over the ring limit are masked, :func:`molvae.models.ring_limit.limit_for`).

    Returns the distinct valid molecules other than the query, ranked by Tanimoto similarity to it
    (Morgan radius 2), with ``count`` (how many draws decoded to it), RDKit properties and
    ``query_recovered``: the similarity of what the query's own latent mean decodes to to the query
    (1.0: it comes back exactly; below 1 the draws surround another molecule, and a warning says so).
    """
    if n < 1:
        raise InputError("n must be at least 1")
    if radius <= 0:
        raise InputError("radius must be > 0")
    query, mu, sd = posterior_one(model, smiles, "query molecule")
    max_ring = limit_for([query])
    back = recovery(model, query, mu, "query molecule", max_ring)
    rng = np.random.default_rng(seed)
    z = mu[None, :] + radius * sd[None, :] * rng.standard_normal((n, model.latent_dim))
    decoded = decode_checked(model, z, reject_radicals, max_ring=max_ring).smiles
    counts: dict[str, int] = {}
    for s in decoded:
        if s is not None and s != query:
            counts[s] = counts.get(s, 0) + 1
    found = list(counts)
    logger.info("%d draws: %d valid, %d distinct neighbours", n, sum(s is not None for s in decoded), len(found))
    if not found:
        return pd.DataFrame(columns=["smiles", "similarity", "count", *properties, "query_recovered"])
    sims = tanimoto_matrix(chem.morgan_fingerprints(found), chem.morgan_fingerprints([query]))[:, 0]
    frame = pd.DataFrame({"smiles": found, "similarity": sims, "count": [counts[s] for s in found]})
    props = chem.compute_properties(found, properties)
    for j, name in enumerate(properties):
        frame[name] = props[:, j]
    frame["query_recovered"] = back.similarity
    return frame.sort_values(["similarity", "count"], ascending=False, kind="stable").reset_index(drop=True)
