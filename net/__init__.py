"""Everything on the wire: framing and codecs, the transport boundary (``net.comm``: TCP channels,
in-process ones for tests, the compute processes' pipes), the registry, the worker control and
data channels, the manager (Tornado + socket.io) and worker services, and the ``ufora-service``
command line. net/ moves bytes and schedules; it reads what a block's header says (its id, the
remote objects it needs), and never unpickles a user's values or runs their code: a block's
variables and a partition's outcome stay pickled bytes in the services."""
