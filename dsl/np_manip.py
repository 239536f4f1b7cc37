"""NumPy-named functions that rearrange arrays: reshape, transpose, join, split, tile, pad, sort.

None of them does arithmetic on the elements (sorting compares them, nothing more), so each is a
short composition of structural primitives: `reshape`, `transpose`, `broadcast_in_dim`, `slice`,
`concatenate`, `rev`, `pad`, `sort`, and `gather` only where a static index map is too irregular
to be cut into a few slices. Shapes, axes, repeats, shifts and pad widths are static Python
values; the arrays may be concrete (eager) or symbolic (staged), and the same code serves both.

The functions live in modules by kind, and this one gathers them (with the shared helpers the
creation, reduction and linear-algebra modules import from here):

- `dsl.np_args`: argument checking (`array_arg`, `promote`, `normalize_axis`, `normalize_axes`,
  `normalize_shape`) and the axis conventions;
- `dsl.np_shapes`: shapes and axes (`reshape`, `ravel`, `transpose`, `swapaxes`, `moveaxis`,
  `squeeze`, `expand_dims`, `broadcast_to`, `atleast_*d`) and queries (`shape`, `size`, `ndim`,
  `result_type`, `copy`);
- `dsl.np_joining`: joining and splitting (`concatenate`, `stack`, `*stack`, `split`, `*split`,
  `unstack`), repetition (`tile`, `repeat`), `pad`, and `take_static`;
- `dsl.np_reorder`: reversal and rotation (`flip`, `roll`, `rot90`) and sorting (`sort`,
  `argsort`, `lexsort`, `searchsorted`).
"""

from __future__ import annotations

from dsl import np_joining as _joining
from dsl import np_reorder as _reorder
from dsl import np_shapes as _shapes
from dsl.np_args import (AxisLike, ShapeLike, array_arg, normalize_axes,  # noqa: F401
                         normalize_axis, normalize_shape, promote)
from dsl.np_joining import *  # noqa: F401,F403
from dsl.np_joining import take_static  # noqa: F401
from dsl.np_reorder import *  # noqa: F401,F403
from dsl.np_shapes import *  # noqa: F401,F403

__all__ = sorted([*_shapes.__all__, *_joining.__all__, *_reorder.__all__])
