"""Observed trajectories as one padded batch with a union time grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch


@dataclass(frozen=True)
class Trajectories:
    """A batch of observed trajectories, possibly on different time grids and with missing values.

    All trajectories are solved as one batch: the model is integrated once over the sorted union
    of all trajectories' times (relative to each trajectory's start, which is exact for the
    autonomous vector fields of :mod:`pathreg.models`), and every trajectory gathers its own
    time points from that solution.

    Attributes
    ----------
    times
        ``(n_trajectories, n_times)`` observation times; padded entries repeat the last time.
    values
        ``(n_trajectories, n_times, n_dims)`` observations; missing entries are zero.
    mask
        ``(n_trajectories, n_times, n_dims)`` boolean, True where a value was observed.
    initial_state
        ``(n_trajectories, n_state)`` state at each trajectory's first time.
    union_times
        ``(n_union,)`` sorted union of the relative times ``times - times[:, :1]``.
    time_index
        ``(n_trajectories, n_times)`` index of every time point into ``union_times``.
    """

    times: torch.Tensor
    values: torch.Tensor
    mask: torch.Tensor
    initial_state: torch.Tensor
    union_times: torch.Tensor
    time_index: torch.Tensor

    @classmethod
    def from_arrays(
        cls,
        times: Sequence[torch.Tensor] | torch.Tensor,
        values: Sequence[torch.Tensor] | torch.Tensor,
        *,
        initial_state: torch.Tensor | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Trajectories:
        """Build a batch from per-trajectory arrays.

        Parameters
        ----------
        times
            One 1-d array of strictly increasing times per trajectory, or a 2-d array.
        values
            One ``(n_times_i, n_dims)`` array per trajectory, or a 3-d array; NaN marks a missing value.
        initial_state
            ``(n_trajectories, n_state)`` initial states; by default each trajectory's first
            observation (which must then be complete).
        dtype
            Floating point type of times and values.

        Returns
        -------
        The padded batch.
        """
        times_list = [torch.as_tensor(t, dtype=dtype).reshape(-1) for t in times]
        values_list = [torch.as_tensor(v, dtype=dtype) for v in values]
        if len(times_list) != len(values_list) or not times_list:
            raise ValueError(
                f"times and values must list the same, non-zero number of trajectories "
                f"(got {len(times_list)} and {len(values_list)})."
            )
        n_dims = values_list[0].shape[-1]
        for index, (t, v) in enumerate(zip(times_list, values_list, strict=True)):
            if v.ndim != 2 or v.shape[0] != t.shape[0] or v.shape[1] != n_dims:
                raise ValueError(
                    f"Trajectory {index}: values have shape {tuple(v.shape)} but {t.shape[0]} times and "
                    f"{n_dims} dimensions were expected."
                )
            if t.shape[0] < 2:
                raise ValueError(f"Trajectory {index} has {t.shape[0]} time point(s); at least 2 are needed.")
            if not torch.isfinite(t).all() or not (t[1:] > t[:-1]).all():
                raise ValueError(f"Trajectory {index}: times must be finite and strictly increasing.")
        n_times = max(t.shape[0] for t in times_list)
        batch = len(times_list)
        padded_times = torch.empty(batch, n_times, dtype=dtype)
        padded_values = torch.zeros(batch, n_times, n_dims, dtype=dtype)
        mask = torch.zeros(batch, n_times, n_dims, dtype=torch.bool)
        for index, (t, v) in enumerate(zip(times_list, values_list, strict=True)):
            length = t.shape[0]
            padded_times[index, :length] = t
            padded_times[index, length:] = t[-1]
            observed = torch.isfinite(v)
            padded_values[index, :length] = torch.where(observed, v, torch.zeros_like(v))
            mask[index, :length] = observed
        if initial_state is None:
            if not mask[:, 0].all():
                raise ValueError(
                    "The first observation of every trajectory must be complete to serve as its initial "
                    "state; pass initial_state explicitly otherwise."
                )
            initial_state = padded_values[:, 0]
        initial_state = torch.as_tensor(initial_state, dtype=dtype)
        if initial_state.ndim != 2 or initial_state.shape[0] != batch:
            raise ValueError(
                f"initial_state must have shape (n_trajectories={batch}, n_state), got {tuple(initial_state.shape)}."
            )
        relative = padded_times - padded_times[:, :1]
        union_times, inverse = torch.unique(relative, sorted=True, return_inverse=True)
        return cls(padded_times, padded_values, mask, initial_state, union_times, inverse.reshape(batch, n_times))

    @property
    def n_trajectories(self) -> int:
        """Number of trajectories."""
        return self.times.shape[0]

    @property
    def n_dims(self) -> int:
        """Number of observed dimensions."""
        return self.values.shape[-1]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Trajectories:
        """Move to ``device`` (and cast floating tensors to ``dtype``)."""

        def move(tensor: torch.Tensor) -> torch.Tensor:
            cast = dtype if dtype is not None and tensor.is_floating_point() else None
            return tensor.to(device=device, dtype=cast)

        return replace(
            self,
            times=move(self.times),
            values=move(self.values),
            mask=move(self.mask),
            initial_state=move(self.initial_state),
            union_times=move(self.union_times),
            time_index=move(self.time_index),
        )

    def truncate(self, fraction: float) -> Trajectories:
        """Keep only observations in the first ``fraction`` of the longest trajectory's time span.

        Later observations are masked out and the union grid is cut after the horizon, so solves
        are shorter. Used by the time-horizon curriculum of :func:`~pathreg.models.fit`.
        """
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
        if fraction == 1:
            return self
        horizon = fraction * self.union_times[-1]
        n_union = int(torch.searchsorted(self.union_times, horizon, right=True).clamp_min(2))
        relative = self.times - self.times[:, :1]
        inside = (relative <= horizon) & (self.time_index < n_union)
        return replace(
            self,
            mask=self.mask & inside.unsqueeze(-1),
            union_times=self.union_times[:n_union],
            time_index=torch.where(inside, self.time_index, torch.zeros_like(self.time_index)),
        )

    def gather(self, solution: torch.Tensor) -> torch.Tensor:
        """Pick every trajectory's time points from a solution on the union grid.

        Parameters
        ----------
        solution
            ``(n_union, n_trajectories, n_dims)`` as returned by an ODE solve over ``union_times``.

        Returns
        -------
        ``(n_trajectories, n_times, n_dims)``.
        """
        batch_index = torch.arange(self.n_trajectories, device=solution.device).unsqueeze(1)
        return solution[self.time_index, batch_index]


def masked_mse(prediction: torch.Tensor, trajectories: Trajectories) -> torch.Tensor:
    """Mean squared error over the observed entries of ``trajectories``."""
    mask = trajectories.mask.to(prediction.dtype)
    return ((prediction - trajectories.values) ** 2 * mask).sum() / mask.sum().clamp_min(1.0)
