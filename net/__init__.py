"""Everything on the wire: framing and codecs, the registry, the worker control and data
channels, the manager (Tornado + socket.io) and worker services, and the ``ufora-service``
command line. net/ moves bytes and schedules; it never looks inside a block or a task."""
