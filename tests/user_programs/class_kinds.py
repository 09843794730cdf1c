"""Programs from a user's trial (2026-12-07, the third) over classes the cluster remakes from
their pickle: an ``Enum`` with an alias (the block failed, and ``__members__`` lost the alias), a
``typing.NamedTuple`` (the block failed: "Cannot overwrite NamedTuple attribute __slots__"), and
a registry that a base's ``__init_subclass__`` fills (each subclass was added again), and classes
the block itself defines (their ``__module__`` was "__ufora_block__", a class's ``__qualname__``
lost its function). Each block also sums a range, which sends it to the cluster."""
import collections
import functools
import enum
from typing import NamedTuple

N = 300_000


class Color(enum.Enum):
    RED = 1
    GREEN = 2
    CRIMSON = 1


class Point(NamedTuple):
    x: float
    y: float = 0.0


class Shape:
    registry = []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Shape.registry.append(cls.__name__)


class Square(Shape):
    def area(self):
        return 4


class Circle(Shape):
    def area(self):
        return 3


def prog_enum_aliases_looked_up(ufora):
    codes = [1, 2, 1, 2, 2]
    with ufora.remotely.downloadAll():
        colors = [Color(c) for c in codes]
        members = list(Color.__members__)
        crimson_is_red = Color.CRIMSON is Color.RED
        check = sum(i % 7 for i in range(N))
    return {"colors": colors, "members": members, "crimson_is_red": crimson_is_red, "check": check}


def prog_named_tuple_with_a_default(ufora):
    with ufora.remotely.downloadAll():
        origin = Point(1.0)
        moved = origin._replace(y=2.5)
        check = sum(i % 5 for i in range(N))
    return {"origin": origin, "moved": moved, "fields": Point._fields, "check": check}


def prog_subclass_registry_read_in_the_block(ufora):
    shapes = [Square(), Circle()]
    with ufora.remotely.downloadAll():
        areas = [s.area() for s in shapes]
        registered = list(Shape.registry)
        check = sum(i % 3 for i in range(N))
    return {"areas": areas, "registered": registered, "registry": list(Shape.registry), "check": check}


def prog_classes_made_in_the_block(ufora):
    with ufora.remotely.downloadAll():
        Pair = collections.namedtuple("Pair", "left right")

        class Box:
            def __init__(self, size):
                self.size = size

        pairs = [Pair(i, i + 1) for i in range(3)]
        boxes = [Box(i) for i in range(2)]
        seen_name = __name__
        check = sum(i % 3 for i in range(N))
    return {"pair": (Pair.__module__, Pair.__qualname__, repr(pairs)), "check": check, "seen_name": seen_name,
            "box": (Box.__module__, Box.__qualname__, type(boxes[1]).__qualname__, boxes[1].size)}


@functools.singledispatch
def describe(value):
    return "something"


@describe.register
def _(value: int):
    return "a number"


describe.label = "mine"


def prog_singledispatch_functions_defined_here_and_in_the_block(ufora):
    """A user's trial (the fourth): a generic function the block defined could not be sent back
    ("cannot pickle 'weakref.ReferenceType' object"), and one of the script could not be sent."""
    with ufora.remotely.downloadAll():
        @functools.singledispatch
        def size(value):
            return 1

        @size.register
        def _(value: list):
            return len(value)

        @size.register(dict)
        def _(value):
            return len(value) * 2

        sizes = [size(v) for v in ([1, 2, 3], {"a": 1}, "x")]
        kinds = [describe(v) for v in (3, "three")]
        check = sum(i % 3 for i in range(N))
    return {"sizes": sizes, "kinds": kinds, "after": [size([0] * 4), size({}), size(2.5)], "check": check,
            "registered": sorted(kind.__name__ for kind in size.registry), "label": describe.label,
            "named": (size.__name__, size.__qualname__.rsplit(".", 1)[-1])}


@functools.singledispatch
def shown(value):
    return "plain"


shown.register(object, lambda value: "any object")


@functools.singledispatch
def extended(value):
    return "base"


def prog_singledispatch_changed_in_the_block_and_an_object_override(ufora):
    """A review: an implementation registered for ``object`` over the function's own was lost
    where the function was remade; one registered (and an attribute set) in the block on a
    generic function of the script was lost silently."""
    with ufora.remotely.downloadAll():
        extended.register(float, lambda value: "a float")
        extended.tag = "extended"
        inside = (extended(1.5), shown("s"))
        check = sum(i % 3 for i in range(N))
    return {"inside": inside, "after": (extended(1.5), extended(1), getattr(extended, "tag", None), shown(2)),
            "check": check}
