"""A one-vs-rest linear SVM (L2-regularised squared hinge) trained in NumPy.

The same problem scikit-learn's ``LinearSVC`` (liblinear) solves, with the
intercept as a regularised feature of value 1 as liblinear has it: for each
class k, minimise ``0.5 * |w_k|^2 + C * sum_i max(0, 1 - y_ik * (x_i . w_k))^2``.
It exists so that training the intent classifier needs no scikit-learn import
(about 0.8 s of CPU, more than the training itself, on every cold start).

Solver: the primal problem by generalised Newton steps, each solved by
conjugate gradients preconditioned with the Hessian's diagonal, all classes
at once (one sparse product per step serves the twelve), then a backtracking
line search. It stops when every class's gradient has shrunk to ``tol`` of its
size at zero: the classifier wants good scores, not the last decimal of the
optimum (docs/performance.md compares it with liblinear). Every class goes on
until all have converged, so their scores stay on one scale. Deterministic: no
random order, no threads beyond NumPy's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

#: Stop when each class's gradient is this share of its gradient at zero.
DEFAULT_TOL = 0.01
#: Each Newton step's conjugate-gradient solve stops at this share of the gradient.
CG_TOL = 0.1
MAX_NEWTON = 30
MAX_CG = 60
ARMIJO = 0.01


@dataclass
class LinearSVM:
    """Fitted weights: ``scores = x @ coef.T + intercept``, one row per class."""

    classes: list[str]
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)
    newton_steps: int = 0
    hessian_products: int = 0

    def decision_function(self, x: sparse.csr_matrix) -> np.ndarray:
        return np.asarray(x @ self.coef.T) + self.intercept


def _objective(w: np.ndarray, b: np.ndarray, z: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    loss = np.maximum(0.0, 1.0 - y * z)
    return 0.5 * (np.einsum("ij,ij->j", w, w) + b * b) + c * np.einsum("ij,ij->j", loss, loss)


def fit(
    x: sparse.csr_matrix,
    labels: list[str],
    c: float = 1.0,
    tol: float = DEFAULT_TOL,
    start: LinearSVM | None = None,
) -> LinearSVM:
    """Fit one-vs-rest on ``x`` (rows: examples); ``start`` warm-starts from another fit's weights."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError("a classifier needs at least two classes")
    pos = {name: k for k, name in enumerate(classes)}
    n = x.shape[0]
    y = -np.ones((n, len(classes)))
    y[np.arange(n), [pos[label] for label in labels]] = 1.0
    x = sparse.csr_matrix(x, dtype=np.float64)
    xt = x.T.tocsr()
    x_sq_t = x.multiply(x).T.tocsr()  # for the diagonal preconditioner
    two_c = 2.0 * c
    if start is not None and list(start.classes) == classes:
        w, b = np.array(start.coef.T, dtype=np.float64), np.array(start.intercept, dtype=np.float64)
    else:
        w, b = np.zeros((x.shape[1], len(classes))), np.zeros(len(classes))
    # The gradient at zero (every example on the wrong side of its margin) sets the scale.
    g0 = np.sqrt(((two_c * (xt @ -y)) ** 2).sum(axis=0) + (two_c * -y.sum(axis=0)) ** 2)
    z = np.asarray(x @ w) + b
    value = _objective(w, b, z, y, c)
    newton = products = 0
    for _ in range(MAX_NEWTON):
        active = (y * z < 1.0).astype(np.float64)
        r = active * (z - y)
        gw = w + two_c * (xt @ r)
        gb = b + two_c * r.sum(axis=0)
        gnorm = np.sqrt(np.einsum("ij,ij->j", gw, gw) + gb * gb)
        # One stopping rule for all classes: a class left half-way while the others
        # go on would have scores on another scale than theirs.
        if np.all(gnorm <= tol * g0):
            break
        todo = gnorm > 0
        newton += 1
        # Preconditioned conjugate gradients on H d = -g, each class its own column.
        diag = 1.0 + two_c * (x_sq_t @ active)
        diag_b = 1.0 + two_c * active.sum(axis=0)
        dw, db = np.zeros_like(w), np.zeros_like(b)
        rw, rb = -gw, -gb
        sw, sb = rw / diag, rb / diag_b
        pw, pb = sw.copy(), sb.copy()
        rs = np.einsum("ij,ij->j", rw, sw) + rb * sb
        stop = CG_TOL * gnorm
        running = todo.copy()
        for _ in range(MAX_CG):
            u = active * (np.asarray(x @ pw) + pb)
            hw = pw + two_c * (xt @ u)
            hb = pb + two_c * u.sum(axis=0)
            products += 1
            php = np.einsum("ij,ij->j", pw, hw) + pb * hb
            alpha = np.where(running & (php > 0), rs / np.where(php > 0, php, 1.0), 0.0)
            dw += alpha * pw
            db += alpha * pb
            rw -= alpha * hw
            rb -= alpha * hb
            running &= np.sqrt(np.einsum("ij,ij->j", rw, rw) + rb * rb) > stop
            if not running.any():
                break
            sw, sb = rw / diag, rb / diag_b
            rs_new = np.einsum("ij,ij->j", rw, sw) + rb * sb
            beta = np.where(rs > 0, rs_new / np.where(rs > 0, rs, 1.0), 0.0)
            pw = sw + beta * pw
            pb = sb + beta * pb
            rs = rs_new
        # Backtracking line search per class; x @ d is computed once for every step length.
        xd = np.asarray(x @ dw) + db
        slope = np.einsum("ij,ij->j", gw, dw) + gb * db
        step = np.ones_like(b)
        for _ in range(30):
            new_w, new_b, new_z = w + step * dw, b + step * db, z + step * xd
            new_value = _objective(new_w, new_b, new_z, y, c)
            ok = new_value <= value + ARMIJO * step * slope
            if ok.all():
                break
            step = np.where(ok, step, step * 0.5)
        w, b, z, value = new_w, new_b, new_z, new_value
    return LinearSVM(
        classes=classes,
        coef=np.ascontiguousarray(w.T),
        intercept=b,
        newton_steps=newton,
        hessian_products=products,
    )
