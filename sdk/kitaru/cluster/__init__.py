"""The cluster side of the client: Kitaru's custom resources through the user's kube
credentials (``pip install 'kitaru[cluster]'``). See :mod:`kitaru.cluster.api`."""
