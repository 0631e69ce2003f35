"""Bounds on every entry centroid's cosine to a query from a low-rank projection: the first pass of a large KB
(``matcher``; issue 17, item 4) computes the exact product only for the entries that can make its pool."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["BOUNDS_MARGIN", "CentroidBounds"]

# Added to the bounds: float32 rounding of the two products is ~1e-6.
BOUNDS_MARGIN = 1e-3

Fuse = Callable[[np.ndarray, np.ndarray], "float | np.ndarray"]


@dataclass(frozen=True)
class CentroidBounds:
    """The entry centroids in the basis of their leading principal directions, and what each leaves out.

    For a unit query ``q`` and a centroid ``c`` = its part ``P c`` in the basis + a residual ``r`` orthogonal to
    it, ``c · q = (Bᵀc)·(Bᵀq) + r · r_q`` and ``|r · r_q| ≤ |r| |r_q|``: the ``rank``-column product bounds every
    centroid cosine from above and below. The first pass of a large KB ranks entries by BM25 fused with that
    cosine and keeps the ``candidate_pool`` best; only the entries whose upper bound reaches the pool's worst
    lower bound can be among them, and only those get the exact 512-column product. Same pool as the product
    with every centroid (a float tie at the pool's edge may fall either way, as it may in ``argpartition``);
    at 5,000 entries it reads 2.5 MB a query instead of 10 MB and takes a fifth of the time (issue 17, item 4).
    A query the bounds do not narrow enough (an off-topic one, close to nothing and so to everything alike)
    falls back to the whole product."""

    basis: np.ndarray  # (dim, rank) float32, orthonormal columns
    projected: np.ndarray  # (entries, rank) float32: each centroid in the basis
    residual: np.ndarray  # (entries,) float32: the length of what the basis leaves out of each centroid

    @classmethod
    def build(cls, centroids: np.ndarray, rank: int) -> CentroidBounds:
        gram = centroids.T.astype(np.float64) @ centroids.astype(np.float64)
        _, vectors = np.linalg.eigh(gram)  # ascending eigenvalues
        basis = np.ascontiguousarray(vectors[:, ::-1][:, :rank], dtype=np.float32)
        projected = np.ascontiguousarray(centroids @ basis)
        left = centroids.astype(np.float64) - projected.astype(np.float64) @ basis.T.astype(np.float64)
        return cls(basis, projected, np.sqrt(np.einsum("ij,ij->i", left, left)).astype(np.float32))

    def candidates(self, lexical: np.ndarray, qvec: np.ndarray, size: int, fuse: Fuse) -> np.ndarray | None:
        """The entries that can be among the ``size`` best by ``fuse(lexical, cosine)``, or ``None`` when the bounds
        leave more than a third of the entries (then the whole product is as cheap)."""
        n = len(self.projected)
        inside = qvec @ self.basis
        left = np.sqrt(max(float(qvec @ qvec) - float(inside @ inside), 0.0))
        approx = self.projected @ inside
        slack = self.residual * np.float32(left) + np.float32(BOUNDS_MARGIN)
        lower = np.asarray(fuse(lexical, approx - slack))
        cut = np.partition(lower, n - size)[n - size]  # the pool's worst lower bound
        found = np.flatnonzero(np.asarray(fuse(lexical, approx + slack)) >= cut)
        return found if 3 * len(found) <= n else None
