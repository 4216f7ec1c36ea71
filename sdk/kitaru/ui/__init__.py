"""``kitaru ui``: a dashboard in the browser over the same client as the CLI.

The page is served on loopback by :mod:`kitaru.ui.server` from files inside the package
(no network, no CDN), and reads and acts through a :class:`kitaru.planes.ControlPlane`:
the local store, or a cluster with the user's own kube credentials. It holds no rights
of its own and keeps no database (``pip install 'kitaru[ui]'``).
"""

#: Where ``kitaru ui`` listens unless told otherwise.
DEFAULT_PORT = 8790
